/**
 * Per-client token bucket (capacity = rate, refilled continuously). It protects this replica from
 * a runaway caller; it is not a money control, so a per-replica bucket is enough — with N
 * replicas behind a balancer a client gets at most N × CLIENT_RATE_LIMIT_RPS.
 */
export class ClientRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly ratePerSecond: number) {}

  /** Takes a token; returns 0 when allowed, otherwise the seconds to wait (≥ 1). */
  take(clientId: string, now = Date.now()): number {
    const b = this.buckets.get(clientId) ?? { tokens: this.ratePerSecond, at: now };
    b.tokens = Math.min(this.ratePerSecond, b.tokens + ((now - b.at) / 1000) * this.ratePerSecond);
    b.at = now;
    this.buckets.set(clientId, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerSecond));
  }
}
