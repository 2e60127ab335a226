// The systemd backend: `systemctl --no-block start|stop UNIT...` (queues the job and returns at once).
import { runUnitCommand } from './spawn.js';
import type { UnitBackendImpl, UnitRequest } from './types.js';

export class SystemdBackend implements UnitBackendImpl {
  readonly name = 'systemd';
  constructor(
    private readonly timeoutMs: number,
    /** The systemctl executable (tests point it at a stand-in). */
    private readonly systemctl = 'systemctl',
  ) {}

  argv(req: UnitRequest): string[] {
    return [this.systemctl, '--no-block', req.action, ...req.units];
  }

  run(req: UnitRequest, signal: AbortSignal): Promise<void> {
    return runUnitCommand(this.argv(req), this.timeoutMs, signal);
  }
}
