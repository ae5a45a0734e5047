/**
 * Per-API flow control like the gateway's "10/1(s)" quotas (reference §4). A strict sliding window:
 * at most `rate` admitted calls in any 1000 ms, so a client that honours "N per second" in the
 * strictest sense is never throttled and one that bursts is. Rejected calls do not use up quota.
 */
export class FlowControl {
  private readonly windows = new Map<string, number[]>();

  /** rateFor returns the allowed calls per second for an Action (whole calls); 0 turns flow control off for it. */
  constructor(private readonly rateFor: (action: string) => number) {}

  /** Admits the call (returns undefined) or returns how many ms until a slot frees up. */
  tryAdmit(callerKey: string, action: string, nowMs: number): number | undefined {
    const limit = Math.floor(this.rateFor(action));
    if (!(limit > 0)) return undefined;
    const key = `${callerKey}\u0000${action}`;
    const admitted = this.windows.get(key) ?? [];
    while (admitted.length > 0 && admitted[0]! <= nowMs - 1000) admitted.shift();
    // Full: the oldest admitted call leaving the window frees the next slot.
    if (admitted.length >= limit) return Math.max(1, Math.ceil(admitted[0]! + 1000 - nowMs));
    admitted.push(nowMs);
    this.windows.set(key, admitted);
    return undefined;
  }

  reset(): void {
    this.windows.clear();
  }
}
