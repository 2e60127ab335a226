// Shared types of the unit layer: what a backend is asked to do and how it reports failure.

export type UnitAction = 'start' | 'stop';

/** One request for a service manager: start or stop these units on behalf of one device. */
export interface UnitRequest {
  action: UnitAction;
  /** Full unit names (mangled and instantiated), never empty. */
  units: readonly string[];
  /** Device the request is for (logging, {devpath} in exec templates). */
  devpath: string;
  /** udev database id of the device (b8:0, n3, +pci:...), when known. */
  id?: string;
}

/** A service-manager backend. `run` resolves when the manager accepted the request and rejects otherwise. */
export interface UnitBackendImpl {
  readonly name: string;
  run(req: UnitRequest, signal: AbortSignal): Promise<void>;
  /** Releases resources (nothing to do for most backends). */
  close?(): void;
}

/** A failure reported by a backend; `retryable` false means retrying cannot help (bad template, bad name). */
export class UnitBackendError extends Error {
  constructor(message: string, readonly retryable = true) {
    super(message);
    this.name = 'UnitBackendError';
  }
}
