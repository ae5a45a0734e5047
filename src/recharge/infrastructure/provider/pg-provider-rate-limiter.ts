import { Logger } from '@nestjs/common';
import { Statement, StatementRunner } from '../../../database/pg-statements';

/** A reserved send slot, measured on the local clock: it begins no earlier than `earliest` and no later than `latest`. */
interface Slot {
  earliest: number;
  latest: number;
}

/** $1 action, $2 the interval covered by the reserved slots, in seconds. */
const RESERVE_SLOTS: Statement = {
  name: 'provider_rate_limit_reserve_v1',
  text: `INSERT INTO provider_rate_limits AS l (name, next_slot_at) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
    ON CONFLICT (name) DO UPDATE SET next_slot_at = GREATEST(l.next_slot_at, clock_timestamp()) + make_interval(secs => $2)
    RETURNING (EXTRACT(EPOCH FROM (l.next_slot_at - clock_timestamp())) - $2) * 1000 AS wait_ms,
              EXTRACT(EPOCH FROM (clock_timestamp() - statement_timestamp())) * 1000 AS queued_ms`,
};

interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: unknown) => void;
}

/**
 * A cross-replica rate limit kept in PostgreSQL (one row per action, the next free send slot).
 * Callers reserve the next slots with one UPDATE and sleep until theirs comes, so all replicas
 * together send at most one request per interval. Within a replica, callers that ask while a
 * reservation is on its way are served together by the next one (k slots in one UPDATE): one
 * statement per batch instead of one per call, and no queue on the row lock inside a replica.
 *
 * Slots are spaced slightly wider than 1/rate because what counts is arrival at the provider, and
 * network and event-loop jitter can bunch requests that were reserved exactly 1/rate apart. That
 * margin is 3% of a second (30 ms) per 1 s window, so a send must not leave much later than its
 * slot: a replica whose event loop stalled (GC, a burst of work) while the slot's answer sat in
 * its socket or while its timer was due would otherwise fire late, right next to another
 * replica's punctual send of the following slot (observed: 21–22 calls in one second at a limit
 * of 20 with two replicas). So a caller that may be more than MAX_LATENESS_MS past its slot gives
 * that slot up and reserves a new one instead of sending (a wasted slot only costs throughput).
 */
export class PgProviderRateLimiter {
  static readonly SAFETY_FACTOR = 1.03;
  /** Two thirds of the 30 ms margin; the rest absorbs jitter on the way to the provider. */
  static readonly MAX_LATENESS_MS = 20;
  /** After this many late slots in a row the caller sends anyway, so an overloaded replica is slowed, never stuck. */
  static readonly MAX_RESERVATIONS = 4;
  /** At most this many slots per statement. */
  static readonly MAX_BATCH = 64;
  private readonly logger = new Logger('ProviderRateLimiter');
  private readonly intervalMs: number;
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly reserving = new Set<string>();

  constructor(
    private readonly sql: StatementRunner,
    ratePerSecond: number,
  ) {
    this.intervalMs = (PgProviderRateLimiter.SAFETY_FACTOR * 1000) / ratePerSecond;
  }

  async acquire(action: string): Promise<void> {
    for (let reservation = 1; ; reservation += 1) {
      const slot = await this.reserve(action);
      // The slot's true start on the local clock is somewhere in [earliest, latest]: waiting for
      // `latest` never sends early, and lateness counted from `earliest` is an upper bound.
      await sleepUntil(slot.latest);
      const lateMs = performance.now() - slot.earliest;
      if (lateMs <= PgProviderRateLimiter.MAX_LATENESS_MS) return;
      if (reservation >= PgProviderRateLimiter.MAX_RESERVATIONS) {
        this.logger.warn(
          `${action}: ${reservation} send slots missed in a row (${Math.round(lateMs)} ms late); sending late`,
        );
        return;
      }
    }
  }

  private reserve(action: string): Promise<Slot> {
    return new Promise<Slot>((resolve, reject) => {
      const queue = this.waiting.get(action) ?? [];
      queue.push({ resolve, reject });
      this.waiting.set(action, queue);
      if (!this.reserving.has(action)) void this.reserveBatch(action);
    });
  }

  /** Reserves slots for everyone waiting on `action`, then for whoever arrived meanwhile. */
  private async reserveBatch(action: string): Promise<void> {
    this.reserving.add(action);
    try {
      for (let queue = this.waiting.get(action) ?? []; queue.length > 0; queue = this.waiting.get(action) ?? []) {
        const batch = queue.splice(0, PgProviderRateLimiter.MAX_BATCH);
        try {
          const asked = performance.now();
          const { firstWaitMs, queuedMs } = await this.reserveSlots(action, batch.length);
          const answered = performance.now();
          // The slots were computed at least queuedMs after `asked` (time spent queued on the row
          // lock, behind other replicas) and at most at `answered`: durations on one clock, no skew.
          batch.forEach((w, i) => {
            const waitMs = firstWaitMs + i * this.intervalMs;
            w.resolve({ earliest: asked + queuedMs + waitMs, latest: answered + waitMs });
          });
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.reserving.delete(action);
    }
  }

  /**
   * Reserves the next `count` free slots. Answers how long until the first begins (0: now) and how
   * long the statement had been in PostgreSQL when it computed that.
   */
  private async reserveSlots(action: string, count: number): Promise<{ firstWaitMs: number; queuedMs: number }> {
    const span = (count * this.intervalMs) / 1000;
    const [row] = await this.sql.query<{ wait_ms: string; queued_ms: string }>(RESERVE_SLOTS, [action, span]);
    return { firstWaitMs: Math.max(0, Number(row.wait_ms) || 0), queuedMs: Math.max(0, Number(row.queued_ms) || 0) };
  }
}

/** setTimeout may fire a little early (millisecond rounding); a slot must never be used before it begins. */
async function sleepUntil(deadline: number): Promise<void> {
  for (let left = deadline - performance.now(); left > 0; left = deadline - performance.now()) {
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(left)));
  }
}
