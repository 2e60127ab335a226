// The "none" backend: units are recorded but never started or stopped.
import type { UnitBackendImpl } from './types.js';

export class NoneBackend implements UnitBackendImpl {
  readonly name = 'none';
  run(): Promise<void> {
    return Promise.resolve();
  }
}
