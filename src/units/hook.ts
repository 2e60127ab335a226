// Plugging the unit layer into the daemon's per-event hook (DaemonHooks.afterEvent in src/daemon/daemon.ts).
//
// That hook runs after the event pipeline wrote the device's database entry, and a udev-faithful pipeline writes
// only what this event's rules produced (udev carries old properties over only on "move"), so the unit record
// (record.ts) would be lost at every event. UnitsHook therefore:
// - keeps the records in memory, filled at start-up from every database entry under the run root, so that the
//   record from *before* the event is known after a daemon restart too;
// - falls back to the device's own database properties (a remove event's pipeline loads the old entry);
// - after onEvent, writes the record back into the device's database entry (E:DEVMASTER_UNITS_* lines), leaving
//   the rest of the entry as the pipeline wrote it.
// It never throws into the daemon: database errors are logged with the device.
import { allDbIds, readDb, writeDb } from '../device/db.js';
import type { Logger } from '../log.js';
import type { UnitActivator, UnitDevice } from './activator.js';
import { applyRecord, readRecord, type RecordedUnits } from './record.js';

export interface HookDevice extends UnitDevice {
  readonly id: string;
  /** Properties from rules and the database (src/device/device.ts Device.dbProperties). */
  readonly dbProperties?: ReadonlyMap<string, string>;
}

export interface HookEvent {
  action: string;
  device: HookDevice;
}

function same(a: RecordedUnits | undefined, b: RecordedUnits | undefined): boolean {
  const key = (r: RecordedUnits | undefined) => (r ? `${r.started.join(' ')}|${r.bound.join(' ')}` : '');
  return key(a) === key(b);
}

export class UnitsHook {
  private readonly records = new Map<string, RecordedUnits>();
  /** Database entries rewritten with a record / failures doing so. */
  readonly counters = { loaded: 0, dbWrites: 0, dbErrors: 0 };

  constructor(
    readonly activator: UnitActivator,
    readonly runRoot: string,
    private readonly logger: Logger,
  ) {
    for (const id of allDbIds(runRoot)) {
      try {
        const rec = readDb(runRoot, id);
        const r = rec ? readRecord(rec.properties) : undefined;
        if (r) this.records.set(id, r);
      } catch (e) {
        this.logger.warn({ id, err: (e as Error).message }, 'units: cannot read database entry');
      }
    }
    this.counters.loaded = this.records.size;
  }

  /** The record currently held for a device id. */
  record(id: string): RecordedUnits | undefined {
    return this.records.get(id);
  }

  /** For DaemonHooks.afterEvent: `hooks: { afterEvent: (ev) => unitsHook.afterEvent(ev) }`. */
  afterEvent(ev: HookEvent): void {
    const dev = ev.device;
    const id = dev.id;
    const recorded = this.records.get(id) ?? readRecord(dev.dbProperties ?? new Map());
    const rec = this.activator.onEvent(ev.action, dev, recorded);
    if (ev.action === 'remove') {
      this.records.delete(id);
      return;
    }
    if (rec) this.records.set(id, rec);
    else this.records.delete(id);
    this.persist(dev, rec);
  }

  private persist(dev: HookDevice, rec: RecordedUnits | undefined): void {
    try {
      const db = readDb(this.runRoot, dev.id);
      if (!db && !rec) return;
      const props = new Map(db?.properties ?? []);
      if (same(readRecord(props), rec)) return;
      applyRecord(props, rec);
      writeDb(
        this.runRoot,
        dev.id,
        {
          hasDevnode: /^[bc]\d/.test(dev.id),
          links: db?.links ?? [],
          linkPriority: db?.linkPriority ?? 0,
          usecInitialized: db?.usecInitialized ?? 0,
          properties: props,
          tags: db?.tags ?? [],
          currentTags: db?.currentTags ?? [],
        },
        { keepEmpty: db !== undefined, persist: db?.persist },
      );
      this.counters.dbWrites++;
    } catch (e) {
      this.counters.dbErrors++;
      this.logger.error({ devpath: dev.devpath, id: dev.id, err: (e as Error).message }, 'units: cannot record units in the database');
    }
  }
}
