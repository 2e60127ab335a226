// How the daemon plugs the unit layer into event processing: after the rules, before the database is written,
// so the record of what was started is stored and broadcast with the event (see docs/UNITS.md).
import type { Device } from '../device/device.js';
import type { DbRecord } from '../device/db.js';
import type { UnitActivator } from './activator.js';
import { applyRecord, readRecord } from './record.js';

/** The daemon's afterRules hook for an activator. */
export function unitsAfterRules(activator: UnitActivator): (device: Device, dbOld: DbRecord | undefined) => void {
  return (device, dbOld) => {
    const rec = activator.onEvent(device.action ?? 'add', device, dbOld ? readRecord(dbOld.properties) : undefined);
    applyRecord(device.dbProperties, rec);
  };
}
