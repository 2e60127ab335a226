// net_driver: ID_NET_DRIVER, the interface's driver as ethtool reports it (udev 257's udev-builtin-net_driver.c).
import type { Builtin, BuiltinContext } from './types.js';
import { Ethtool } from '../sys/ethtool.js';
import { errnoIsNotSupported } from '../sys/errno.js';
import { isSystemError } from '../util/fs.js';

const netDriver: Builtin = {
  name: 'net_driver',
  help: 'Set driver for network device',
  run(ctx: BuiltinContext): boolean {
    const name = ctx.device.sysname;
    const e = new Ethtool();
    let driver: string | undefined;
    try {
      driver = e.driver(name);
    } catch (err) {
      if (!isSystemError(err)) throw err;
      if (errnoIsNotSupported(err.errno ?? 0)) {
        ctx.log.debug(`net_driver: querying the driver through ethtool is not supported by '${name}', ignoring`);
        return true;
      }
      if (err.code === 'ENODEV') {
        ctx.log.debug(`net_driver: '${name}' already vanished, ignoring`);
        return true;
      }
      ctx.log.warn(`net_driver: failed to get the driver of '${name}': ${err.message}`);
      return false;
    } finally {
      e.close();
    }
    if (driver === undefined) {
      ctx.log.warn(`net_driver: failed to get the driver of '${name}': ENODATA`);
      return false;
    }
    ctx.setProperty('ID_NET_DRIVER', driver);
    return true;
  },
};

export default netDriver;
