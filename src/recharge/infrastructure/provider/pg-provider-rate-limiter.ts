import { EntityManager } from '@mikro-orm/postgresql';
import { Logger } from '@nestjs/common';

/**
 * A cross-replica rate limit kept in PostgreSQL (one row per action, the next free send slot).
 * Each caller reserves the next slot in one UPDATE and sleeps until it comes, so all replicas
 * together send at most one request per interval. Slots are spaced slightly wider than 1/rate
 * because what counts is arrival at the provider, and network and event-loop jitter can bunch
 * requests that were reserved exactly 1/rate apart.
 *
 * That margin is 4% of a second (40 ms) per 1 s window, so a send must not leave much later than
 * its slot: a replica whose event loop stalled (GC, a burst of work) while the slot's answer sat
 * in its socket or while its timer was due would otherwise fire late, right next to another
 * replica's punctual send of the following slot (observed: 21–22 calls in one second at a limit
 * of 20 with two replicas). So a caller that may be more than MAX_LATENESS_MS past its slot gives
 * that slot up and reserves a new one instead of sending (a wasted slot only costs throughput).
 */
export class PgProviderRateLimiter {
  static readonly SAFETY_FACTOR = 1.04;
  /** Half of the 40 ms margin; the other half absorbs jitter on the way to the provider. */
  static readonly MAX_LATENESS_MS = 20;
  /** After this many late slots in a row the caller sends anyway, so an overloaded replica is slowed, never stuck. */
  static readonly MAX_RESERVATIONS = 4;
  private readonly logger = new Logger('ProviderRateLimiter');
  private readonly intervalSeconds: number;

  constructor(
    private readonly em: EntityManager,
    ratePerSecond: number,
  ) {
    this.intervalSeconds = PgProviderRateLimiter.SAFETY_FACTOR / ratePerSecond;
  }

  async acquire(action: string): Promise<void> {
    for (let reservation = 1; ; reservation += 1) {
      const asked = performance.now();
      const { waitMs, queuedMs } = await this.reserve(action);
      // The slot was computed at least queuedMs after `asked` (time spent queued on the row lock in
      // PostgreSQL) and at most now; counting the wait from now never sends early, and measuring
      // lateness from `asked + queuedMs` bounds how late the send can be after its slot began.
      await sleepUntil(performance.now() + waitMs);
      const lateMs = performance.now() - (asked + queuedMs + waitMs);
      if (lateMs <= PgProviderRateLimiter.MAX_LATENESS_MS) return;
      if (reservation >= PgProviderRateLimiter.MAX_RESERVATIONS) {
        this.logger.warn(`${action}: ${reservation} send slots missed in a row (${Math.round(lateMs)} ms late); sending late`);
        return;
      }
    }
  }

  /**
   * Reserves the next free slot. Answers how long until it begins (0: now) and how long the
   * statement had been in PostgreSQL when it computed that (durations on one clock: no skew).
   */
  private async reserve(action: string): Promise<{ waitMs: number; queuedMs: number }> {
    const [row]: Array<{ wait_ms: string; queued_ms: string }> = await this.em.getConnection().execute(
      `INSERT INTO provider_rate_limits AS l (name, next_slot_at) VALUES (?, clock_timestamp() + make_interval(secs => ?))
       ON CONFLICT (name) DO UPDATE SET next_slot_at = GREATEST(l.next_slot_at, clock_timestamp()) + make_interval(secs => ?)
       RETURNING (EXTRACT(EPOCH FROM (l.next_slot_at - clock_timestamp())) - ?) * 1000 AS wait_ms,
                 EXTRACT(EPOCH FROM (clock_timestamp() - statement_timestamp())) * 1000 AS queued_ms`,
      [action, this.intervalSeconds, this.intervalSeconds, this.intervalSeconds],
    );
    return { waitMs: Math.max(0, Number(row.wait_ms) || 0), queuedMs: Math.max(0, Number(row.queued_ms) || 0) };
  }
}

/** setTimeout may fire a little early (millisecond rounding); a slot must never be used before it begins. */
async function sleepUntil(deadline: number): Promise<void> {
  for (let left = deadline - performance.now(); left > 0; left = deadline - performance.now()) {
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(left)));
  }
}
