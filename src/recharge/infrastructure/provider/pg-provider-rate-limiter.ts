import { EntityManager } from '@mikro-orm/postgresql';

/**
 * A cross-replica rate limit kept in PostgreSQL (one row per action, the next free send slot).
 * Each caller reserves the next slot in one UPDATE and sleeps until it comes, so all replicas
 * together send at most one request per interval. Slots are spaced slightly wider than 1/rate
 * because what counts is arrival at the provider, and network and event-loop jitter can bunch
 * requests that were reserved exactly 1/rate apart.
 */
export class PgProviderRateLimiter {
  static readonly SAFETY_FACTOR = 1.04;
  private readonly intervalSeconds: number;

  constructor(
    private readonly em: EntityManager,
    ratePerSecond: number,
  ) {
    this.intervalSeconds = PgProviderRateLimiter.SAFETY_FACTOR / ratePerSecond;
  }

  async acquire(action: string): Promise<void> {
    const [row]: Array<{ wait_ms: string }> = await this.em.getConnection().execute(
      `INSERT INTO provider_rate_limits AS l (name, next_slot_at) VALUES (?, clock_timestamp() + make_interval(secs => ?))
       ON CONFLICT (name) DO UPDATE SET next_slot_at = GREATEST(l.next_slot_at, clock_timestamp()) + make_interval(secs => ?)
       RETURNING (EXTRACT(EPOCH FROM (l.next_slot_at - clock_timestamp())) - ?) * 1000 AS wait_ms`,
      [action, this.intervalSeconds, this.intervalSeconds, this.intervalSeconds],
    );
    const waitMs = Number(row.wait_ms);
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}
