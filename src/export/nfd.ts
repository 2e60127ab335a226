// Device facts for Kubernetes node-feature-discovery (NFD): a feature file `devmaster` in NFD's features.d
// directory (nfd-worker's "local" source turns each `label=value` line into a node label), kept in step with the
// devices: read from the database at start, updated after every processed event, removed when nothing is exported.
//
// What is exported (docs/OBSERVABILITY.md):
//   - ENV{DEVMASTER_FEATURE}="NAME[=VALUE] ..." set by the rules on a device: each word is one label. NAME is a
//     Kubernetes label name; without a "prefix/" it becomes feature.node.kubernetes.io/devmaster-NAME. VALUE
//     defaults to "true". When devices disagree on a label's value, the first device in devpath order wins.
//   - nfd_properties (config): for every device with property P=V, the label
//     feature.node.kubernetes.io/devmaster-<p>.<v> (p lowercased, v with other characters than [A-Za-z0-9._-]
//     made "_") whose value is the number of such devices.
// The file is written atomically through a hidden temporary file (NFD skips dot files); with nfd_expiry it
// carries NFD's "# +expiry-time=" directive and is rewritten every nfd_expiry/2 seconds.
import { join } from 'node:path';
import { unlinkSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { Roots } from '../device/roots.js';
import { Device } from '../device/device.js';
import { deviceIfAny } from '../device/errors.js';
import { allDbIds } from '../device/db.js';
import { writeFileAtomic } from '../util/fs.js';

export const FEATURE_PROPERTY = 'DEVMASTER_FEATURE';
export const FEATURE_FILE = 'devmaster';
export const DEFAULT_PREFIX = 'feature.node.kubernetes.io';
/** NFD ignores a feature file of 64 kB or more. */
export const MAX_FILE_BYTES = 64 * 1024;

const NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PREFIX_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A full label name for NAME (with or without "prefix/"), or why it is not one. */
export function labelName(name: string): { label: string } | { error: string } {
  const slash = name.indexOf('/');
  const prefix = slash < 0 ? DEFAULT_PREFIX : name.slice(0, slash);
  const base = slash < 0 ? `devmaster-${name}` : name.slice(slash + 1);
  if (slash >= 0 && (prefix.length > 253 || !PREFIX_RE.test(prefix))) return { error: `'${prefix}' is not a DNS subdomain (lowercase letters, digits, '-' and '.')` };
  if (base.length > 63) return { error: `'${base}' is longer than 63 characters` };
  if (!NAME_RE.test(base)) return { error: `'${base}' is not a label name (letters, digits, '-', '_' and '.', beginning and ending with a letter or digit)` };
  return { label: `${prefix}/${base}` };
}

/** Whether a label value is valid (empty, or up to 63 of [A-Za-z0-9._-] beginning and ending alphanumeric). */
export function isLabelValue(v: string): boolean {
  return v === '' || (v.length <= 63 && NAME_RE.test(v));
}

/** The counted label of property `prop` with value `value`, or undefined when nothing of the value is left. */
export function propertyLabel(prop: string, value: string): string | undefined {
  const head = `devmaster-${prop.toLowerCase().replace(/[^a-z0-9._-]/g, '_')}.`;
  const tail = value.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, Math.max(0, 63 - head.length)).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  if (tail === '' || !NAME_RE.test(head + tail)) return undefined;
  return `${DEFAULT_PREFIX}/${head}${tail}`;
}

/** What one device contributes. */
export interface DeviceFacts {
  devpath: string;
  /** From DEVMASTER_FEATURE: label → value. */
  labels: [string, string][];
  /** From nfd_properties: labels counted over the devices. */
  counted: string[];
}

/** A device's facts (undefined when it exports nothing); `onInvalid` hears about words that are no label. */
export function deviceFacts(devpath: string, props: ReadonlyMap<string, string>, properties: readonly string[], onInvalid: (word: string, why: string) => void): DeviceFacts | undefined {
  const labels: [string, string][] = [];
  for (const word of (props.get(FEATURE_PROPERTY) ?? '').split(/\s+/)) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? 'true' : word.slice(eq + 1);
    const l = labelName(name);
    if ('error' in l) onInvalid(word, l.error);
    else if (!isLabelValue(value)) onInvalid(word, `'${value}' is not a label value (up to 63 letters, digits, '-', '_' and '.', beginning and ending with a letter or digit)`);
    else labels.push([l.label, value]);
  }
  const counted: string[] = [];
  for (const p of properties) {
    const v = props.get(p);
    if (v === undefined) continue;
    const l = propertyLabel(p, v);
    if (l) counted.push(l);
  }
  if (labels.length === 0 && counted.length === 0) return undefined;
  return { devpath, labels, counted };
}

/** The labels of a set of devices, sorted by name; `onConflict` hears of labels the devices disagree on. */
export function mergeFacts(facts: Iterable<DeviceFacts>, onConflict: (label: string, kept: string, other: string) => void): Map<string, string> {
  const sorted = [...facts].sort((a, b) => (a.devpath < b.devpath ? -1 : a.devpath > b.devpath ? 1 : 0));
  const out = new Map<string, string>();
  for (const f of sorted) {
    for (const [l, v] of f.labels) {
      const had = out.get(l);
      if (had === undefined) out.set(l, v);
      else if (had !== v) onConflict(l, had, v);
    }
  }
  const counts = new Map<string, number>();
  for (const f of sorted) for (const l of new Set(f.counted)) counts.set(l, (counts.get(l) ?? 0) + 1);
  for (const [l, c] of counts) if (!out.has(l)) out.set(l, String(c));
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The feature file's text. */
export function renderFeatures(labels: ReadonlyMap<string, string>, expiry: Date | undefined): string {
  const lines = ['# devmaster: device facts (ENV{DEVMASTER_FEATURE}, nfd_properties); rewritten on every device change'];
  if (expiry) lines.push(`# +expiry-time=${expiry.toISOString().replace(/\.\d{3}Z$/, 'Z')}`);
  for (const [l, v] of labels) lines.push(v === 'true' ? l : `${l}=${v}`);
  return lines.join('\n') + '\n';
}

export interface FeatureExportOptions {
  /** NFD's features.d directory. */
  dir: string;
  /** nfd_properties. */
  properties: readonly string[];
  /** Seconds of validity written as # +expiry-time (0 = none). */
  expirySec: number;
}

/** Delay that gathers the changes of a burst of events (a coldplug) into one write. */
const FLUSH_DELAY_MS = 50;

export class FeatureExport {
  readonly path: string;
  writes = 0;
  lastError: string | undefined;
  #opts: FeatureExportOptions;
  #log: Logger;
  #devices = new Map<string, DeviceFacts>();
  #flushTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  /** The labels last written (undefined: the file is absent). */
  #written: string | undefined;
  #reported = new Set<string>();
  #labels = 0;

  constructor(opts: FeatureExportOptions, log: Logger) {
    this.#opts = opts;
    this.#log = log;
    this.path = join(opts.dir, FEATURE_FILE);
    if (opts.expirySec > 0) {
      this.#expiryTimer = setInterval(() => this.flush(true), Math.max(1, opts.expirySec / 2) * 1000);
      this.#expiryTimer.unref();
    }
  }

  /** Reads the facts of every device in the database of `roots.run` and writes the file. */
  load(roots: Roots): void {
    for (const id of allDbIds(roots.run)) {
      const d = deviceIfAny(() => Device.fromDeviceId(roots, id));
      if (!d) continue; // the device is gone: the next resync removes its record
      d.loadDb();
      this.#set(id, d.devpath, d.properties);
    }
    this.flush();
  }

  /** After a processed event: the device's facts now (none after "remove"; a "move" drops those of the old path). */
  onEvent(action: string, device: Device): void {
    let changed = false;
    const props = device.properties;
    const oldPath = action === 'move' ? props.get('DEVPATH_OLD') : undefined;
    if (oldPath !== undefined) for (const [id, f] of this.#devices) if (f.devpath === oldPath && this.#devices.delete(id)) changed = true;
    if (action === 'remove') changed = this.#devices.delete(device.id) || changed;
    else changed = this.#set(device.id, device.devpath, props) || changed;
    if (changed && this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
      this.#flushTimer.unref();
    }
  }

  #set(id: string, devpath: string, props: ReadonlyMap<string, string>): boolean {
    const f = deviceFacts(devpath, props, this.#opts.properties, (word, why) => this.#once(`invalid ${devpath} ${word}`, { devpath, word, why }, `${FEATURE_PROPERTY} of ${devpath}: '${word}' is not exported: ${why}`));
    const old = this.#devices.get(id);
    if (f === undefined) return this.#devices.delete(id);
    this.#devices.set(id, f);
    return old === undefined || JSON.stringify(old) !== JSON.stringify(f);
  }

  #once(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.#log.warn(fields, msg);
  }

  /** Writes the file if the labels changed (or always, with `force`); removes it when there are none. */
  flush(force = false): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const labels = mergeFacts(this.#devices.values(), (label, kept, other) =>
      this.#once(`conflict ${label} ${kept} ${other}`, { label, kept, other }, `node-feature-discovery label ${label}: devices disagree ('${kept}', '${other}'); '${kept}' is exported`),
    );
    this.#labels = labels.size;
    const body = [...labels].map(([l, v]) => `${l}=${v}`).join('\n');
    if (!force && body === this.#written) return;
    try {
      if (labels.size === 0) {
        try {
          unlinkSync(this.path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
        this.#written = undefined;
      } else {
        const expiry = this.#opts.expirySec > 0 ? new Date(Date.now() + this.#opts.expirySec * 1000) : undefined;
        let text = renderFeatures(labels, expiry);
        if (Buffer.byteLength(text) >= MAX_FILE_BYTES) {
          this.#log.error({ path: this.path, bytes: Buffer.byteLength(text) }, `node-feature-discovery ignores feature files of ${MAX_FILE_BYTES} bytes or more: labels past the limit are left out`);
          text = text.slice(0, text.lastIndexOf('\n', MAX_FILE_BYTES - 2) + 1);
        }
        writeFileAtomic(this.path, text, { mode: 0o644, mkdir: true, hiddenTemp: true });
        this.#written = body;
      }
      this.writes++;
      this.lastError = undefined;
    } catch (e) {
      const msg = (e as Error).message;
      if (this.lastError === undefined) this.#log.error({ path: this.path, err: msg }, 'cannot write the node-feature-discovery feature file');
      this.lastError = msg;
    }
  }

  /** Writes what is pending; the file stays (the devices are still there when the daemon stops). */
  close(): void {
    if (this.#flushTimer !== undefined) this.flush();
    if (this.#expiryTimer !== undefined) clearInterval(this.#expiryTimer);
    this.#expiryTimer = undefined;
  }

  status(): Record<string, unknown> {
    return { path: this.path, devices: this.#devices.size, labels: this.#labels, writes: this.writes, lastError: this.lastError };
  }
}
