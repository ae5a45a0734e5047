import { Injectable, OnModuleDestroy } from '@nestjs/common';

/** Process-wide "we are shutting down" flag: readiness fails at once, workers stop taking work. */
@Injectable()
export class Lifecycle implements OnModuleDestroy {
  private drainingSince: Date | null = null;
  private readonly listeners: Array<() => void> = [];
  private readonly closing = new AbortController();

  /**
   * Aborted when the application starts to close (after the drain delay, first of Nest's shutdown
   * hooks): a request still holding a `Prefer: wait` answers with the current state then, instead
   * of keeping the HTTP server from closing until the grace period kills the process mid-response.
   */
  get closingSignal(): AbortSignal {
    return this.closing.signal;
  }

  onModuleDestroy(): void {
    this.closing.abort();
  }

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
