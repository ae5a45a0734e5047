import { LRUCache } from 'lru-cache';

/**
 * Failed authentications per client address: a token bucket holding `perMinute` failures,
 * refilled continuously. An address that has spent it is answered 429 (with Retry-After) before
 * its key is looked up, so random-token floods cost neither a query nor a hash per request after
 * the first burst. Addresses live in a bounded LRU: a flood from many addresses cannot grow
 * memory. Per replica, like the client rate limit: it protects this process and its database.
 */
export class FailedAuthLimiter {
  static readonly MAX_ADDRESSES = 50_000;
  private readonly buckets = new LRUCache<string, { tokens: number; at: number }>({
    max: FailedAuthLimiter.MAX_ADDRESSES,
  });
  private readonly perSecond: number;

  constructor(private readonly perMinute: number) {
    this.perSecond = perMinute / 60;
  }

  /** Seconds until this address may fail again (0: it may try now). */
  retryAfter(address: string, now = Date.now()): number {
    const b = this.refill(address, now);
    return b.tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }

  /** Records a failed attempt. */
  fail(address: string, now = Date.now()): void {
    const b = this.refill(address, now);
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.set(address, b);
  }

  private refill(address: string, now: number): { tokens: number; at: number } {
    const b = this.buckets.get(address) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    return b;
  }
}
