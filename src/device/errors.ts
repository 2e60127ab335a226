/** A device lookup or access failure, with an errno-like code (ENODEV, EINVAL, ...). */
export class DeviceError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'DeviceError';
  }
}

/** fn(), or undefined when it fails with a DeviceError (no such device, or gone meanwhile); anything else is thrown. */
export function deviceIfAny<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DeviceError) return undefined;
    throw e;
  }
}
