/**
 * Concurrent `Prefer: wait` requests per client on this replica. A held request costs a socket
 * and a listener for up to 30 s; past the cap the preference is simply not applied (RFC 7240
 * lets a server ignore it): the answer comes at once, without Preference-Applied.
 */
export class WaitSlots {
  private readonly held = new Map<string, number>();

  constructor(private readonly maxPerClient: number) {}

  /** A release function when a slot is free, null when the client holds all of its slots. */
  tryAcquire(clientId: string): (() => void) | null {
    const n = this.held.get(clientId) ?? 0;
    if (n >= this.maxPerClient) return null;
    this.held.set(clientId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(clientId) ?? 1) - 1;
      if (left <= 0) this.held.delete(clientId);
      else this.held.set(clientId, left);
    };
  }

  inUse(clientId: string): number {
    return this.held.get(clientId) ?? 0;
  }
}
