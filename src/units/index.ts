// The unit layer: service-unit activation on hotplug (docs/UNITS.md).
export { UnitActivator, createBackend } from './activator.js';
export type { UnitDevice, UnitActivatorConfig, UnitActivatorOptions, UnitStats, UnitFailure } from './activator.js';
export { readRecord, applyRecord, recordProperties, PROP_STARTED, PROP_BOUND } from './record.js';
export type { RecordedUnits } from './record.js';
export type { UnitAction, UnitRequest, UnitBackendImpl } from './types.js';
export { UnitBackendError } from './types.js';
export { unitsAfterRules } from './wire.js';
