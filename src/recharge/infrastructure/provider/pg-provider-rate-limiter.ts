import { Logger } from '@nestjs/common';
import { Statement, StatementRunner } from '../../../database/pg-statements';
import { ProviderSendSchedule } from '../../application/ports/provider-send-schedule';

/** What a provider call is for: credits move money and go first; quota queries only read. */
export type ProviderCallPriority = 'credit' | 'query';

/** The slot a caller may send in, as PostgreSQL reserved it. */
export interface SlotGrant {
  priority: ProviderCallPriority;
  /** When the slot begins on the database's clock (epoch milliseconds): slots never overlap. */
  slotAt: number;
  /** How many slots the caller reserved to get a punctual one (each late one was given up unused). */
  reservations: number;
}

export interface AcquireOptions {
  /** Stop waiting (the promise rejects with the signal's reason); a slot already reserved is wasted. */
  signal?: AbortSignal;
}

/** A reserved send slot on the local clock (epoch ms): it begins no earlier than `earliest` and no later than `latest`. */
interface Slot {
  earliest: number;
  latest: number;
  slotAt: number;
}

/**
 * The local clock: epoch milliseconds that never step (a monotonic clock from a fixed origin), and
 * a sleep until such an instant. Tests pass a virtual one.
 */
export interface LocalClock {
  now(): number;
  sleepUntil(at: number, signal?: AbortSignal): Promise<void>;
}

export const MONOTONIC_CLOCK: LocalClock = {
  now: () => performance.timeOrigin + performance.now(),
  sleepUntil,
};

/** The whole provider shares one row: one budget for every action and every replica. */
export const PROVIDER_BUDGET_ROW = 'provider';

/**
 * Credits: the next `count` slots after the last reserved one (or from now if the budget is idle).
 * $1 the budget's row, $2 the interval covered by the reserved slots, in seconds.
 */
const RESERVE_CREDIT_SLOTS: Statement = {
  name: 'provider_rate_budget_credits_v2',
  text: `INSERT INTO provider_rate_limits AS l (name, next_slot_at) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
    ON CONFLICT (name) DO UPDATE SET next_slot_at = GREATEST(l.next_slot_at, clock_timestamp()) + make_interval(secs => $2)
    RETURNING (EXTRACT(EPOCH FROM l.next_slot_at) - $2) * 1000 AS slot_at,
              EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS db_now`,
};

/**
 * Quota queries: one slot, and only one that nobody has reserved, i.e. when the budget is idle
 * now. Credits reserve their slots ahead (a backlog pushes next_slot_at into the future), so a
 * query never takes a slot that a credit of any replica has reserved or is queued on the row lock
 * for: the conditional update waits for that lock and then sees the credit's reservation. No row
 * back means busy; `busy_ms` (from the statement's snapshot, so possibly stale) says for how long.
 * $1 the budget's row, $2 one interval in seconds.
 */
const RESERVE_QUERY_SLOT: Statement = {
  name: 'provider_rate_budget_query_v1',
  text: `WITH taken AS (
      INSERT INTO provider_rate_limits AS l (name, next_slot_at) VALUES ($1, clock_timestamp() + make_interval(secs => $2))
      ON CONFLICT (name) DO UPDATE SET next_slot_at = clock_timestamp() + make_interval(secs => $2)
        WHERE l.next_slot_at <= clock_timestamp()
      RETURNING l.next_slot_at
    )
    SELECT (EXTRACT(EPOCH FROM t.next_slot_at) - $2) * 1000 AS slot_at,
           EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS db_now,
           NULL::float8 AS busy_ms
      FROM taken t
    UNION ALL
    SELECT NULL, NULL, EXTRACT(EPOCH FROM (l.next_slot_at - clock_timestamp())) * 1000
      FROM provider_rate_limits l
     WHERE l.name = $1 AND NOT EXISTS (SELECT 1 FROM taken)`,
};

interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * The provider's rate budget, kept in PostgreSQL: ONE row (the next free send slot) for every
 * action and every replica, so all of them together send at most one request per interval.
 * Callers reserve slots with one statement and sleep until theirs comes; nothing is ever sent
 * without a reserved slot that is still current.
 *
 * Credits before quota queries, within a replica and across replicas: credits reserve the next
 * slots after the last reserved one; a query only takes a slot when the budget is idle (nobody has
 * reserved the present), so under a backlog of credits queries wait (their callers may give up
 * through `signal`), and a credit is never behind a query that asked while it was waiting.
 * Within a replica, credits that ask while a reservation is on its way are served together by the
 * next one (k slots in one statement): one statement per batch, no queue on the row lock inside a
 * replica.
 *
 * Slots are spaced slightly wider than 1/rate because what counts is arrival at the provider, and
 * network and event-loop jitter can bunch requests that were reserved exactly 1/rate apart. That
 * margin is 6% of a second (60 ms) per 1 s window, so a send must not leave much later than its
 * slot: a replica whose event loop stalled (GC, a burst of work) while the slot's answer sat in
 * its socket or while its timer was due would otherwise fire late, right next to another
 * replica's punctual send of the following slot (observed: 21–22 calls in one second at a limit
 * of 20 with two replicas). So a caller that may be more than MAX_LATENESS_MS past its slot gives
 * that slot up and reserves a new one instead of sending, however often that happens: a wasted
 * slot only costs throughput, a late send breaks the provider's limit.
 */
export class PgProviderRateLimiter implements ProviderSendSchedule {
  /**
   * 1.03 (30 ms) let a loaded machine's scheduling delays on the way to the provider bunch 21
   * calls into a second at a limit of 20; so did 1.04 with 20 ms of allowed lateness on Node 24
   * (a quiet CI machine, two runs in two), and 1.05 with 10 ms once in two CI runs on Node 24
   * (two-replicas, 2026-12-03). 1.06 caps a saturated drain at 1/1.06 = 94.3 % of the limit:
   * throughput is what a wider margin costs, a call over the limit is what it prevents.
   */
  static readonly SAFETY_FACTOR = 1.06;
  /** A sixth of the 60 ms margin; the rest absorbs delays on the way to the provider. */
  static readonly MAX_LATENESS_MS = 10;
  /** Warn (once per this many) when a caller keeps missing its slots: the replica is overloaded. */
  static readonly WARN_EVERY_MISSED = 4;
  /** At most this many slots per statement. */
  static readonly MAX_BATCH = 64;
  /** A busy budget is asked again after at least this long (the answer may be stale), at most after MAX_QUERY_POLL_MS. */
  static readonly MIN_QUERY_POLL_MS = 5;
  static readonly MAX_QUERY_POLL_MS = 1000;
  private readonly logger = new Logger('ProviderRateLimiter');
  private readonly intervalMs: number;
  private readonly clock = new ClockOffset();
  /** The end of the last slot this replica saw reserved on the shared schedule, on the local clock. */
  private reservedUntil = 0;
  private readonly credits: Waiter[] = [];
  private readonly queries: Waiter[] = [];
  private pumping = false;
  private wakePump: (() => void) | null = null;

  constructor(
    private readonly sql: StatementRunner,
    ratePerSecond: number,
    private readonly local: LocalClock = MONOTONIC_CLOCK,
  ) {
    this.intervalMs = (PgProviderRateLimiter.SAFETY_FACTOR * 1000) / ratePerSecond;
  }

  get slotIntervalMs(): number {
    return this.intervalMs;
  }

  creditsReservedAheadMs(): number {
    return Math.max(0, this.reservedUntil - this.local.now()) + this.credits.length * this.intervalMs;
  }

  /** Resolves when the caller may send its request now, in a slot reserved for it alone. */
  async acquire(priority: ProviderCallPriority, options: AcquireOptions = {}): Promise<SlotGrant> {
    for (let reservation = 1; ; reservation += 1) {
      options.signal?.throwIfAborted();
      const slot = await this.reserve(priority, options.signal);
      // The slot's true start on the local clock is somewhere in [earliest, latest] (the database's
      // clock is known to within a round trip): waiting for `latest` never sends early, and
      // lateness counted from `earliest` is an upper bound.
      await this.local.sleepUntil(slot.latest, options.signal);
      const lateMs = this.local.now() - slot.earliest;
      if (lateMs <= PgProviderRateLimiter.MAX_LATENESS_MS)
        return { priority, slotAt: slot.slotAt, reservations: reservation };
      if (reservation % PgProviderRateLimiter.WARN_EVERY_MISSED === 0) {
        this.logger.warn(
          `${priority}: ${reservation} send slots missed in a row (${Math.round(lateMs)} ms late); still waiting for a punctual one, this replica is overloaded`,
        );
      }
    }
  }

  private reserve(priority: ProviderCallPriority, signal: AbortSignal | undefined): Promise<Slot> {
    return new Promise<Slot>((resolve, reject) => {
      const queue = priority === 'credit' ? this.credits : this.queries;
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          reject(signal.reason);
          this.wake();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      queue.push(waiter);
      this.wake();
      if (!this.pumping) void this.pump();
    });
  }

  /** One loop per replica: all waiting credits first (in batches), then queries one at a time. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.credits.length > 0 || this.queries.length > 0) {
        if (this.credits.length > 0) {
          await this.serveCredits(this.credits.splice(0, PgProviderRateLimiter.MAX_BATCH));
          continue;
        }
        const busyMs = await this.serveQuery(this.queries[0]!);
        if (busyMs !== null && this.credits.length === 0) {
          // Busy with credits (someone's reserved slots lie ahead): ask again once they have
          // begun, or at once if a credit of this replica arrives meanwhile.
          await this.idle(
            Math.min(
              PgProviderRateLimiter.MAX_QUERY_POLL_MS,
              Math.max(PgProviderRateLimiter.MIN_QUERY_POLL_MS, busyMs),
            ),
          );
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async serveCredits(batch: Waiter[]): Promise<void> {
    try {
      const asked = this.local.now();
      const span = (batch.length * this.intervalMs) / 1000;
      const [row] = await this.sql.query<ReservationRow>(RESERVE_CREDIT_SLOTS, [PROVIDER_BUDGET_ROW, span]);
      const answered = this.local.now();
      const slotAt = this.observe(row!, asked, answered);
      batch.forEach((w, i) => settle(w, this.slot(slotAt + i * this.intervalMs)));
    } catch (err) {
      for (const w of batch) fail(w, err);
    }
  }

  /** Takes a slot for the first waiting query if the budget is idle; else answers how long it is busy. */
  private async serveQuery(waiter: Waiter): Promise<number | null> {
    try {
      const asked = this.local.now();
      const [row] = await this.sql.query<ReservationRow>(RESERVE_QUERY_SLOT, [
        PROVIDER_BUDGET_ROW,
        this.intervalMs / 1000,
      ]);
      const answered = this.local.now();
      if (row && row.slot_at === null) return Number(row.busy_ms) || 0;
      // No row at all cannot happen (the insert or the update answers); treat it as busy.
      if (!row) return 0;
      const slotAt = this.observe(row, asked, answered);
      const at = this.queries.indexOf(waiter);
      if (at >= 0) this.queries.splice(at, 1);
      settle(waiter, this.slot(slotAt));
      return null;
    } catch (err) {
      const at = this.queries.indexOf(waiter);
      if (at >= 0) this.queries.splice(at, 1);
      fail(waiter, err);
      return null;
    }
  }

  /**
   * Learns from a reservation's round trip where the database's clock stands against ours: it read
   * `db_now` after we asked and before the answer came back. (Not statement_timestamp(): when the
   * server stamps it for a prepared statement is not something to build a bound on.) Answers the
   * first reserved slot's start on the database clock.
   */
  private observe(row: ReservationRow, asked: number, answered: number): number {
    this.clock.observe(Number(row.db_now) - answered, Number(row.db_now) - asked, answered);
    return Number(row.slot_at);
  }

  /** A slot that begins at `slotAt` on the database clock, on the local clock. */
  private slot(slotAt: number): Slot {
    const { lo, hi } = this.clock.bounds();
    const slot = { earliest: slotAt - hi, latest: slotAt - lo, slotAt };
    this.reservedUntil = Math.max(this.reservedUntil, slot.latest + this.intervalMs);
    return slot;
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakePump === done) this.wakePump = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakePump = done;
    });
  }

  private wake(): void {
    this.wakePump?.();
  }
}

interface ReservationRow {
  slot_at: string | null;
  db_now: string | null;
  busy_ms?: string | null;
}

/**
 * What the database's clock reads minus ours (epoch ms), bounded by round trips: each reservation
 * says the offset lies in [db_now − answered, db_now − asked]. The bounds of recent round trips
 * are intersected, so one slow answer (a busy database, a stalled event loop) does not blur where
 * a slot begins: the fastest recent round trip decides. Only the last WINDOW_MS count, which keeps
 * the drift between two NTP-disciplined clocks negligible; bounds that no longer overlap mean a
 * clock was stepped, and only the newest round trip is kept.
 */
class ClockOffset {
  static readonly WINDOW_MS = 10_000;
  private samples: Array<{ lo: number; hi: number; at: number }> = [];

  observe(lo: number, hi: number, at: number): void {
    this.samples = this.samples.filter((s) => s.at > at - ClockOffset.WINDOW_MS);
    this.samples.push({ lo, hi, at });
    const bounds = this.bounds();
    if (bounds.lo > bounds.hi) this.samples = [{ lo, hi, at }];
  }

  bounds(): { lo: number; hi: number } {
    let lo = -Infinity;
    let hi = Infinity;
    for (const s of this.samples) {
      lo = Math.max(lo, s.lo);
      hi = Math.min(hi, s.hi);
    }
    return { lo, hi };
  }
}

function settle(waiter: Waiter, slot: Slot): void {
  if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  waiter.resolve(slot);
}

function fail(waiter: Waiter, err: unknown): void {
  if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  waiter.reject(err);
}

/** setTimeout may fire a little early (millisecond rounding); a slot must never be used before it begins. */
async function sleepUntil(deadline: number, signal?: AbortSignal): Promise<void> {
  const now = () => performance.timeOrigin + performance.now();
  for (let left = deadline - now(); left > 0; left = deadline - now()) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.ceil(left));
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  signal?.throwIfAborted();
}
