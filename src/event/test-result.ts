// What `devctl test` reports of one event run in test mode (docs/DEVCTL.md, "devctl test"): made from the
// pipeline's result, as plain data, by devctl itself or by the running daemon that ran the event for it
// (src/daemon/daemon.ts, the control socket's `test` request).
import type { EventResult } from './process.js';
import type { TraceEntry } from '../rules/exec.js';
import { formatDiagnostic, type CompiledFile } from '../rules/compile.js';

export interface TestResult {
  device: string;
  action: string;
  /** How many rules files the event ran through. */
  rulesFiles: number;
  /** How many of them were taken as a daemon compiled them (its rules cache, or the daemon itself). */
  rulesFromCache: number;
  /** Where the event ran: in devctl, or in the running daemon. */
  ranIn: 'devctl' | 'daemon';
  trace: { where: string; what: string }[];
  properties: Record<string, string>;
  name: string | undefined;
  altnames: string[];
  symlinks: string[];
  owner: number | undefined;
  group: number | undefined;
  mode: string | undefined;
  tags: string[];
  currentTags: string[];
  run: { command: string; builtin: boolean; where: string }[];
  writes: { path: string; value: string }[];
  errors: string[];
}

/** One test run: the report, and the errors of the rules files it ran through ("file:line:col: error: ..."). */
export interface TestRun {
  result: TestResult;
  ruleErrors: string[];
}

/** The run of an event through `files` (the rules set's, in order), as devctl test reports it. */
export function testRun(res: EventResult, trace: readonly TraceEntry[], action: string, files: readonly CompiledFile[], how: { rulesFromCache: number; ranIn: TestResult['ranIn'] }): TestRun {
  const dev = res.device;
  const result: TestResult = {
    device: dev.syspath,
    action,
    rulesFiles: files.length,
    rulesFromCache: how.rulesFromCache,
    ranIn: how.ranIn,
    trace: trace.map((t) => ({ where: `${t.file}:${t.line}`, what: t.what })),
    properties: Object.fromEntries(dev.properties),
    name: res.rename,
    altnames: res.state.builtinEvent.altnames ?? [],
    symlinks: [...dev.devlinks],
    owner: res.node?.uid,
    group: res.node?.gid,
    mode: res.node ? res.node.mode.toString(8).padStart(4, '0') : undefined,
    tags: [...dev.tags],
    currentTags: [...dev.currentTags],
    run: res.runList.map((r) => ({ command: r.command, builtin: r.builtin !== undefined, where: `${r.file}:${r.line}` })),
    writes: res.state.writes,
    errors: res.errors,
  };
  return { result, ruleErrors: files.flatMap((f) => f.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)) };
}
