import { Injectable } from '@nestjs/common';

/** Process-wide "we are shutting down" flag: readiness fails at once, workers stop taking work. */
@Injectable()
export class Lifecycle {
  private drainingSince: Date | null = null;
  private readonly listeners: Array<() => void> = [];

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  startDraining(): void {
    if (this.drainingSince) return;
    this.drainingSince = new Date();
    for (const l of this.listeners) l();
  }

  onDrain(listener: () => void): void {
    this.listeners.push(listener);
  }
}
