// devctl test's event run in its own process: the rules loaded here (each file in the version still on disk taken
// from the rules cache, src/rules/cache.ts, which the daemon writes after a load; the files compiled here added to
// it for the next test, where devMaster's run directory exists), the builtins loaded when a rule first runs one,
// the event run in test mode. Loaded only when the daemon does not run the event (../test.ts).
import { loadRules } from '../../rules/load.js';
import { RulesCache, rulesCachePath } from '../../rules/cache.js';
import { processEvent } from '../../event/process.js';
import { testRun, type TestRun } from '../../event/test-result.js';
import type { TraceEntry } from '../../rules/exec.js';
import { exitBuiltins, lazyBuiltins } from '../../builtins/registry.js';
import type { Config } from '../../config/config.js';
import type { CompileOptions } from '../../rules/compile.js';
import { findDevice } from '../../device/find.js';
import type { Roots } from '../../device/roots.js';
import type { Logger } from '../../log.js';
import { isSystemError } from '../../util/fs.js';

export async function runLocally(roots: Roots, config: Config, deviceArg: string, action: string, rulesDirs: string[], resolveNames: CompileOptions['resolveNames'], log: Logger): Promise<TestRun> {
  const device = findDevice(roots, deviceArg);
  device.action = action;
  const cachePath = rulesCachePath(roots.run);
  const { cache, error: cacheError } = RulesCache.read(cachePath, { resolveNames });
  if (cacheError !== undefined) log.warn(`rules cache ignored: ${cacheError}`);
  // names looked up when their line runs: most devices' events assign none, and need no user database
  const load = await loadRules(rulesDirs, { resolveNames, lookUpNamesWhenRun: true }, cache);
  if (cache.added > 0) {
    try {
      // no run directory of devMaster's: nothing written, the next test compiles again
      if (!cache.update(cachePath)) log.debug(`rules cache not written: no directory for ${cachePath}`);
    } catch (e) {
      if (!isSystemError(e)) throw e;
      log.debug(`rules cache not written: ${e.message}`); // not root, say
    }
  }
  const trace: TraceEntry[] = [];
  // loaded when a rule runs one: most events run few builtins or none
  const builtins = lazyBuiltins(roots, {
    hwdbBin: config.hwdbBin,
    configFile: config.configFile,
    namingScheme: config.namingScheme,
    networkDirs: config.networkDirs,
    cmdlinePath: config.kernelCmdline,
    warn: (m) => log.warn(m),
  });
  const res = await processEvent({ roots, ruleSet: load.ruleSet, log, test: true, mknod: false, execTimeoutMs: config.execTimeout * 1000, builtins, trace }, device);
  exitBuiltins(builtins);
  return testRun(res, trace, action, load.files, { rulesFromCache: cache.hits, ranIn: 'devctl' });
}
