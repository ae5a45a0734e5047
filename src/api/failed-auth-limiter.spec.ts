import { FailedAuthLimiter } from './failed-auth-limiter';

describe('FailedAuthLimiter', () => {
  it('lets an address fail its budget, then asks it to wait until a token has refilled', () => {
    const limiter = new FailedAuthLimiter(6); // 6 per minute: one token every 10 s
    const t0 = 1_000_000;
    for (let i = 0; i < 6; i++) {
      expect(limiter.retryAfter('10.0.0.1', t0)).toBe(0);
      limiter.fail('10.0.0.1', t0);
    }
    expect(limiter.retryAfter('10.0.0.1', t0)).toBe(10);
    expect(limiter.retryAfter('10.0.0.1', t0 + 4_000)).toBe(6);
    expect(limiter.retryAfter('10.0.0.1', t0 + 10_000)).toBe(0);
    // Another address is not affected.
    expect(limiter.retryAfter('10.0.0.2', t0)).toBe(0);
  });

  it('keeps a bounded number of addresses', () => {
    const limiter = new FailedAuthLimiter(1);
    for (let i = 0; i < FailedAuthLimiter.MAX_ADDRESSES + 100; i++) limiter.fail(`a${i}`, 0);
    expect((limiter as unknown as { buckets: { size: number } }).buckets.size).toBe(FailedAuthLimiter.MAX_ADDRESSES);
  });
});
