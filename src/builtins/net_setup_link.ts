// net_setup_link: applies the first matching .link file to a network interface (udev 257's
// udev-builtin-net_setup_link.c): ethtool and rtnetlink settings on add, bind and move; the new name
// (ID_NET_NAME, which 80-net-setup-link.rules turns into NAME=) and the alternative names on add; the
// ID_NET_LINK_FILE* properties always. The configuration lives in src/net/.
import type { Roots } from '../device/roots.js';
import type { Builtin, BuiltinConfig, BuiltinContext } from './types.js';
import { DEFAULT_NETWORK_DIRS, linkConfigStamp, loadLinkConfigs } from '../net/link-config.js';
import { formatDiagnostic } from '../net/ini.js';
import { systemInfo } from '../net/condition.js';
import { readCmdline } from '../util/cmdline.js';
import { readMachineId } from '../util/system.js';
import { Ethtool } from '../sys/ethtool.js';
import { isSystemError } from '../util/fs.js';
import { applyEthtool, applyRtnl, generateAltnames, generateNewName, linkGetConfig, linkNew, udevProperties, type LinkContext } from '../net/link.js';
import { namingScheme } from './net_id.js';

let ctx: LinkContext | undefined;
let dirs: readonly string[] = DEFAULT_NETWORK_DIRS;
let stamp = '';

const netSetupLink: Builtin = {
  name: 'net_setup_link',
  help: 'Configure network link',
  init(roots: Roots, config: BuiltinConfig = {}) {
    dirs = config.networkDirs?.length ? config.networkDirs : DEFAULT_NETWORK_DIRS;
    const loaded = loadLinkConfigs(dirs);
    for (const d of loaded.diagnostics) config.warn?.(formatDiagnostic(d));
    stamp = loaded.stamp;
    ctx?.ethtool.close();
    ctx = {
      configs: loaded.configs,
      system: systemInfo({ sysfs: roots.sysfs, cmdline: readCmdline(config.cmdlinePath), machineIdPath: config.machineIdPath }),
      scheme: namingScheme(config),
      machineId: readMachineId(config.machineIdPath),
      ethtool: new Ethtool(),
    };
  },
  exit() {
    ctx?.ethtool.close();
    ctx = undefined;
  },
  shouldReload() {
    return ctx !== undefined && linkConfigStamp(dirs) !== stamp;
  },
  async run(bc: BuiltinContext, argv: string[]): Promise<boolean> {
    const dev = bc.device;
    // under devctl test what it decided also goes to the trace, as udevadm test prints it
    const note = (m: string) => bc.event?.notes?.push(m.replace(`${dev.sysname}: `, ''));
    const log = {
      debug: (m: string) => {
        bc.log.debug(m);
        if (/config file .* is applied|policy \*|policies didn't|not renaming|keeping/i.test(m)) note(m);
      },
      info: (m: string) => bc.log.info(m),
      warn: (m: string) => {
        bc.log.warn(m);
        note(m);
      },
    };
    if (argv.length > 1) {
      bc.log.error(`${dev.sysname}: net_setup_link takes no arguments`);
      return false;
    }
    if (!ctx) netSetupLink.init!(bc.roots);
    const action = bc.action;
    if (action !== 'add' && action !== 'bind' && action !== 'move') {
      // keep the .link file found on add, and say the current name
      for (const k of ['ID_NET_LINK_FILE', 'ID_NET_LINK_FILE_DROPINS']) {
        const v = bc.dbProperties?.get(k);
        if (v !== undefined) bc.setProperty(k, v);
      }
      bc.setProperty('ID_NET_NAME', dev.sysname);
      return true;
    }
    let link;
    try {
      link = await linkNew(ctx!, dev, log);
    } catch (e) {
      if (!isSystemError(e)) throw e;
      if (e.code === 'ENODEV') {
        bc.log.debug(`${dev.sysname}: link vanished while getting information, ignoring`);
        return true;
      }
      bc.log.warn(`${dev.sysname}: failed to get link information: ${e.message}`);
      return false;
    }
    link.config = linkGetConfig(ctx!, link, log);
    if (!link.config) {
      log.debug(`${dev.sysname}: no matching link configuration found, ignoring device`);
      note('no matching link configuration found');
      return true;
    }
    if (!bc.test) {
      applyEthtool(ctx!, link, log);
      await applyRtnl(ctx!, link, log);
    }
    link.newName = generateNewName(ctx!, link, log);
    link.altnames = generateAltnames(link);
    udevProperties(link, bc.dbProperties, (k, v) => bc.setProperty(k, v));
    if (bc.event) bc.event.altnames = link.altnames;
    return true;
  },
};

export default netSetupLink;
