// net_driver: ID_NET_DRIVER, the interface's driver as ethtool reports it (udev 257's udev-builtin-net_driver.c).
import type { Builtin, BuiltinContext } from './types.js';
import { Ethtool, EthtoolError } from '../net/ethtool.js';

const NOT_SUPPORTED = new Set(['EOPNOTSUPP', 'ENOTTY', 'ENOSYS', 'EAFNOSUPPORT', 'EPFNOSUPPORT', 'EPROTONOSUPPORT', 'ESOCKTNOSUPPORT', 'ENOPROTOOPT']);

const netDriver: Builtin = {
  name: 'net_driver',
  help: 'Set driver for network device',
  runOnce: true,
  run(ctx: BuiltinContext): boolean {
    const name = ctx.device.sysname;
    const e = new Ethtool();
    let driver: string | undefined;
    try {
      driver = e.driver(name);
    } catch (err) {
      const code = err instanceof EthtoolError ? err.code : '';
      if (NOT_SUPPORTED.has(code)) {
        ctx.log.debug(`net_driver: querying the driver through ethtool is not supported by '${name}', ignoring`);
        return true;
      }
      if (code === 'ENODEV') {
        ctx.log.debug(`net_driver: '${name}' already vanished, ignoring`);
        return true;
      }
      ctx.log.warn(`net_driver: failed to get the driver of '${name}': ${(err as Error).message}`);
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
