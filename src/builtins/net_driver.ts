// net_driver: ID_NET_DRIVER, the interface's driver as ethtool reports it (udev 257's udev-builtin-net_driver.c).
import type { Builtin, BuiltinContext } from './types.js';
import { constants } from 'node:os';
import { Ethtool } from '../sys/ethtool.js';
import { isSystemError } from '../util/fs.js';

const E = constants.errno as Record<string, number>;
/** ERRNO_IS_NOT_SUPPORTED: the query is not supported by the device (ESOCKTNOSUPPORT is 94 on Linux). */
const NOT_SUPPORTED = new Set([E.EOPNOTSUPP, E.ENOTTY, E.ENOSYS, E.EAFNOSUPPORT, E.EPFNOSUPPORT ?? 96, E.EPROTONOSUPPORT, 94, E.ENOPROTOOPT]);

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
      const errno = isSystemError(err) ? (err.errno ?? 0) : 0;
      if (NOT_SUPPORTED.has(errno)) {
        ctx.log.debug(`net_driver: querying the driver through ethtool is not supported by '${name}', ignoring`);
        return true;
      }
      if (errno === E.ENODEV) {
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
