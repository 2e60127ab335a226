// Debian packages used as test peers, unpacked (never installed) by scripts/fetch-deb.sh under .cache/deb:
// node_exporter (reads the metrics file with Prometheus's own parser) and Python's prometheus_client (its
// OpenMetrics parser is strict; with python3-decorator, which it needs, for Debian's /usr/bin/python3). A test that needs one calls these: they fetch it once or throw a clear error.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { REPO } from './reference.js';

function unpacked(pkg: string, inside: string): string {
  const path = join(REPO, '.cache', 'deb', pkg, 'root', inside);
  if (!existsSync(path)) {
    try {
      execFileSync(join(REPO, 'scripts', 'fetch-deb.sh'), [pkg], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`${pkg} unavailable: scripts/fetch-deb.sh failed (needs apt-get and Debian's package index): ${(e as Error).message}`);
    }
  }
  if (!existsSync(path)) throw new Error(`${pkg} unpacked without ${inside}`);
  return path;
}

/** A free TCP port on the loopback address. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface NodeExporter {
  proc: ChildProcess;
  /** GET /metrics. */
  scrape(): Promise<string>;
  stop(): Promise<void>;
}

/** node_exporter with only its textfile collector, reading `dir`, listening on the loopback address. */
export async function startNodeExporter(dir: string): Promise<NodeExporter> {
  const bin = unpacked('prometheus-node-exporter', 'usr/bin/prometheus-node-exporter');
  const port = await freePort();
  const proc = spawn(bin, [`--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${dir}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    if (!res.ok) throw new Error(`node_exporter answered ${res.status}`);
    return res.text();
  };
  for (let i = 0; ; i++) {
    try {
      await scrape();
      break;
    } catch (e) {
      if (proc.exitCode !== null || i > 100) {
        proc.kill('SIGKILL');
        throw new Error(`node_exporter did not start: ${(e as Error).message}\n${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    proc,
    scrape,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export interface PyFamily {
  name: string;
  type: string;
  unit: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/**
 * Parses metrics with Python prometheus_client: OpenMetrics with its strict parser (the default), or Prometheus's
 * text format; returns the families, or throws with the parser's complaint.
 */
export function parseWithPython(text: string, format: 'openmetrics' | 'prometheus' = 'openmetrics'): PyFamily[] {
  const mod = format === 'openmetrics' ? 'prometheus_client.openmetrics.parser' : 'prometheus_client.parser';
  // Debian's python3-prometheus-client needs python3-decorator
  const lib = ['python3-prometheus-client', 'python3-decorator'].map((p) => unpacked(p, 'usr/lib/python3/dist-packages')).join(':');
  const script = [
    'import json, math, sys',
    `from ${mod} import text_string_to_metric_families`,
    'out = [{"name": f.name, "type": f.type, "unit": f.unit, "samples": [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)} for s in f.samples]} for f in text_string_to_metric_families(sys.stdin.read())]',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: text, encoding: 'utf8', env: { ...process.env, PYTHONPATH: lib } });
  if (r.status !== 0) throw new Error(`${mod}: ${r.stderr.trim().split('\n').pop()}`);
  return JSON.parse(r.stdout) as PyFamily[];
}

export interface PromFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

/**
 * Prometheus's text format (0.0.4) through the npm package parse-prometheus-text-format (which folds the series of
 * a labelled histogram into one: read histograms with parseWithPython).
 */
export function parsePrometheusText(text: string): PromFamily[] {
  const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (t: string) => PromFamily[];
  return parse(text);
}
