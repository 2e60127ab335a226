/** A device lookup or access failure, with an errno-like code (ENODEV, EINVAL, ...). */
export class DeviceError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'DeviceError';
  }
}
