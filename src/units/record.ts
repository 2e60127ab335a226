// What devMaster remembers per device about its units, stored in the device's database entry as two
// ordinary properties (udev db lines "E:KEY=VALUE"), so that the record survives a daemon restart:
//
//   E:DEVMASTER_UNITS_STARTED=a.service b.service   units the device listed at its last event; all of them
//                                                   have been requested to start (a change event starts
//                                                   only units missing from this list)
//   E:DEVMASTER_UNITS_BOUND=b.service               units started through SYSMASTER_BINDS_TO; stopped when
//                                                   the device is removed (or stops being plugged)

export const PROP_STARTED = 'DEVMASTER_UNITS_STARTED';
export const PROP_BOUND = 'DEVMASTER_UNITS_BOUND';

export interface RecordedUnits {
  /** Units listed (WANTS and BINDS_TO) at the last event, in order. */
  started: string[];
  /** Units to stop when the device goes away. */
  bound: string[];
}

function words(v: string | undefined): string[] {
  return v ? v.split(/\s+/).filter((w) => w !== '') : [];
}

/** Reads the record from a device's database properties (undefined when there is none). */
export function readRecord(properties: ReadonlyMap<string, string>): RecordedUnits | undefined {
  const started = words(properties.get(PROP_STARTED));
  const bound = words(properties.get(PROP_BOUND));
  if (started.length === 0 && bound.length === 0) return undefined;
  return { started, bound };
}

/** The database properties for a record: both keys, with an empty record meaning "remove them". */
export function recordProperties(rec: RecordedUnits | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (rec && rec.started.length > 0) m.set(PROP_STARTED, rec.started.join(' '));
  if (rec && rec.bound.length > 0) m.set(PROP_BOUND, rec.bound.join(' '));
  return m;
}

/**
 * Writes the record into a device's property map (what the daemon stores as E: lines), replacing whatever a
 * rule may have put under the same keys; an undefined record deletes the keys.
 */
export function applyRecord(properties: Map<string, string>, rec: RecordedUnits | undefined): void {
  properties.delete(PROP_STARTED);
  properties.delete(PROP_BOUND);
  for (const [k, v] of recordProperties(rec)) properties.set(k, v);
}
