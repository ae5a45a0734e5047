import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Statement, StatementRunner } from '../../../database/pg-statements';
import { ProviderSendSchedule } from '../../application/ports/provider-send-schedule';

/** What a provider call is for: credits move money and go first; quota queries only read. */
export type ProviderCallPriority = 'credit' | 'query';

export interface SendOptions {
  /**
   * Stop waiting for a permit (the promise rejects with the signal's reason, and the call is not
   * made). Once the call has started the signal no longer matters.
   */
  signal?: AbortSignal;
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

export interface RateLimiterOptions {
  /** The local clock (tests pass a virtual one). */
  clock?: LocalClock;
  /**
   * The longest a request takes, at most, from when this replica starts making the call to when
   * the provider counts it (PROVIDER_MAX_TRANSIT_MS). Unset: nothing is assumed, and a permit's
   * next use counts from the answer. Set: from the answer or from the start plus this bound,
   * whichever comes first; a request that takes longer may push one window over the limit.
   */
  maxTransitMs?: number | null;
}

const callEnded = new AsyncLocalStorage<() => void>();

/**
 * Says, from inside a call made through `PgProviderRateLimiter.send()`, that the provider's answer
 * is in (or the call was given up): the permit's next use counts from now, not from when the
 * caller's own work after the answer (writing the call log) is done. Outside a send it does nothing.
 */
export function markProviderCallEnded(): void {
  callEnded.getStore()?.();
}

/** The whole provider shares one budget: every action and every replica. */
export const PROVIDER_BUDGET = 'provider';

/** A permit as this replica holds it; times on the database clock (epoch ms). */
interface Permit {
  slot: number;
  /** The permit may carry a request that leaves at or after this instant. */
  freeAt: number;
  /** The hold lasts until then unless renewed (the last value this replica was told). */
  heldUntil: number;
  /** Another replica took it over after the hold lapsed, or the table was emptied: never send on it. */
  lost: boolean;
  state: 'idle' | 'assigned' | 'sending';
  /** Its release is being written: a renewal that misses it is not a takeover. */
  releasing: boolean;
}

interface Waiter {
  resolve: (permit: Permit) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Release {
  permit: Permit;
  /** The answer's (or abandonment's) instant as an upper bound on the database clock; null when unused or unknown. */
  answeredAt: number | null;
  used: boolean;
}

/**
 * The permit's next use must wait a window after its last use was answered; a permit whose
 * holder's lease lapsed (the holder died or was cut off) waits a window after the lease ended.
 * $7 the window in seconds.
 */
const EFFECTIVE_FREE_AT = `CASE WHEN p.held_by IS NULL THEN p.free_at ELSE GREATEST(p.free_at, p.held_until + make_interval(secs => $7)) END`;
/** Permits of the budget's current rate that nobody holds (or whose holder's lease has lapsed). $1 budget, $2 N. */
const TAKABLE = `p.budget = $1 AND p.slot < $2 AND (p.held_by IS NULL OR p.held_until < clock_timestamp())`;

/**
 * Holds up to $3 takable permits that are free within $4 seconds, earliest first; rows another
 * replica is taking right now are skipped, not waited for. Answers each permit taken, then one
 * summary row: when the earliest permit left behind comes free (the next poll), and how many rows
 * the budget has (fewer than N: create them). $5 this replica's id, $6 the lease in seconds.
 */
const HOLD_PERMITS: Statement = {
  name: 'provider_send_permits_hold_v1',
  text: `WITH candidates AS (
      SELECT p.slot FROM provider_send_permits p
       WHERE ${TAKABLE} AND ${EFFECTIVE_FREE_AT} <= clock_timestamp() + make_interval(secs => $4)
       ORDER BY ${EFFECTIVE_FREE_AT}, p.slot
       LIMIT $3
       FOR UPDATE SKIP LOCKED
    ), taken AS (
      UPDATE provider_send_permits p
         SET free_at = ${EFFECTIVE_FREE_AT}, held_by = $5, held_until = clock_timestamp() + make_interval(secs => $6)
        FROM candidates c
       WHERE p.budget = $1 AND p.slot = c.slot
      RETURNING p.slot, p.free_at, p.held_until
    )
    SELECT t.slot, EXTRACT(EPOCH FROM t.free_at) * 1000 AS free_at, EXTRACT(EPOCH FROM t.held_until) * 1000 AS held_until,
           NULL::float8 AS next_free_at, NULL::int AS present, EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS db_now
      FROM taken t
    UNION ALL
    SELECT NULL, NULL, NULL,
           (SELECT EXTRACT(EPOCH FROM min(${EFFECTIVE_FREE_AT})) * 1000 FROM provider_send_permits p
             WHERE ${TAKABLE} AND p.slot NOT IN (SELECT slot FROM taken)),
           (SELECT count(*)::int FROM provider_send_permits p WHERE p.budget = $1 AND p.slot < $2),
           EXTRACT(EPOCH FROM clock_timestamp()) * 1000`,
};

/**
 * Creates the budget's missing permits. A budget never used before (no provider_send_budgets row)
 * gets them free now. One whose permits are all gone was emptied (a crash of the UNLOGGED table, a
 * TRUNCATE): they come free only after $3 seconds, a window plus a hold's lease, so that neither a
 * call answered just before nor a permit some replica still believes it holds (it finds out at
 * its next renewal, and sends on it only while its lease lasts) adds to their first window.
 * Otherwise the rate went up: the new permits never carried a call and are free now.
 * $1 budget, $2 N. (Concurrent first calls on a new budget: the second waits for the first's
 * budget row, then finds its permits and inserts nothing.)
 */
const ENSURE_PERMITS: Statement = {
  name: 'provider_send_permits_ensure_v1',
  text: `WITH fresh AS (
      INSERT INTO provider_send_budgets (budget) VALUES ($1) ON CONFLICT (budget) DO NOTHING RETURNING budget
    )
    INSERT INTO provider_send_permits (budget, slot, free_at)
    SELECT $1, s, clock_timestamp() + CASE
             WHEN EXISTS (SELECT 1 FROM fresh) THEN interval '0'
             WHEN EXISTS (SELECT 1 FROM provider_send_permits WHERE budget = $1) THEN interval '0'
             ELSE make_interval(secs => $3) END
      FROM generate_series(0, $2::int - 1) AS s
    ON CONFLICT (budget, slot) DO NOTHING`,
};

/** Extends every hold of this replica ($2), idle or in flight; what is not returned is no longer ours. $3 the lease in seconds. */
const RENEW_PERMITS: Statement = {
  name: 'provider_send_permits_renew_v1',
  text: `UPDATE provider_send_permits SET held_until = clock_timestamp() + make_interval(secs => $3)
     WHERE budget = $1 AND held_by = $2
    RETURNING slot, EXTRACT(EPOCH FROM held_until) * 1000 AS held_until, EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS db_now`,
};

/**
 * Gives permits back. A used one comes free a window after its call was answered: the answer's
 * instant is bounded above both by the local answer time mapped onto the database clock ($4, the
 * tighter bound; null when unknown) and by this statement's own clock (it runs after the answer).
 * An unused one keeps its free_at. A permit this replica no longer holds is left alone.
 * $2 slots, $3 used flags, $5 the window in seconds, $6 this replica's id.
 */
const RELEASE_PERMITS: Statement = {
  name: 'provider_send_permits_release_v1',
  text: `UPDATE provider_send_permits p
       SET free_at = CASE WHEN v.used
             THEN GREATEST(p.free_at, LEAST(clock_timestamp(), to_timestamp(v.answered_ms / 1000)) + make_interval(secs => $5))
             ELSE p.free_at END,
           held_by = NULL, held_until = NULL
      FROM unnest($2::int[], $3::boolean[], $4::float8[]) AS v(slot, used, answered_ms)
     WHERE p.budget = $1 AND p.slot = v.slot AND p.held_by = $6`,
};

interface HoldRow {
  slot: number | null;
  free_at: string | null;
  held_until: string | null;
  next_free_at: string | null;
  present: number | null;
  db_now: string;
}

interface RenewRow {
  slot: number;
  held_until: string;
  db_now: string;
}

/**
 * The provider's rate budget, kept in PostgreSQL as N = floor(rate) send permits shared by every
 * action and every replica, with a window W = N / rate seconds (1 s for whole rates). A permit
 * carries one call at a time and is used again only W after that call was answered (or abandoned).
 * A request reaches the provider before its answer leaves it, so two uses of one permit arrive
 * more than W apart, and any W-long window holds at most N arrivals: by causality, whatever the
 * event loop, a GC pause or the network does between a grant and the request's arrival. (The
 * previous design spaced slots 1/rate apart and needed a 6 % margin against exactly that jitter,
 * which capped a saturated drain at 94.3 % of the limit; here a permit's cycle is W plus one call's
 * round trip: ≈ 99 % of the limit at a few milliseconds per call, 95 % at the bench simulator's
 * 50 ms. Knowing only when a request left and when its answer came, no scheme can do better.)
 * An operator who knows the network may bound the transit instead (PROVIDER_MAX_TRANSIT_MS, unset
 * by default): the permit then counts from the start plus that bound when it comes before the
 * answer, which brings a permit's cycle to W plus the bound, at the price of relying on it.
 * A call given up without an answer (a timeout, a reset) counts from when it was given up: a
 * request still on its way then would have to arrive more than W later to matter.
 * Each replica spaces its own sends at least half an interval (W / 2N) apart (pace()), so permits
 * that come free together do not send in bursts: the provider takes requests in one after the
 * other (a burst's last request is counted late, which matters with a transit bound), and a burst
 * every cycle made a caller who just missed one wait a whole cycle. Spacing only ever delays a send.
 *
 * `send()` holds a permit, sleeps until it is free on the local clock (never early: the database
 * clock's position is bounded by round trips, the later bound is used), makes the call and
 * releases the permit in a `finally`, whatever the call did: a permit cannot leak.
 *
 * Holds are leases, renewed by one statement per replica every RENEW_EVERY_MS while it holds
 * anything (as a recharge's claim is renewed while its work runs). A replica that dies stops
 * renewing; once the lease lapses another replica may take the permit, but uses it only W after
 * the lease's end: anything the dead holder sent left before then. A live holder sends on a
 * permit only while its known lease covers SEND_MARGIN_MS more, so a request that left in time
 * but travelled slowly is still covered, assuming it reaches the provider within that margin.
 *
 * Credits before quota queries, within a replica and across replicas: credits hold permits that
 * come free within CREDIT_LOOKAHEAD_MS; a query only takes one that nobody holds and that is free
 * now, so under a backlog of credits queries wait (their callers may give up through `signal`).
 * Credits hold only a short way ahead, not every permit they could, so that another replica's
 * credits get their share: a permit released by one replica is free only a window later, and
 * whichever replica asks first once it is near takes it.
 */
export class PgProviderRateLimiter implements ProviderSendSchedule {
  /** A hold lapses this long after its last renewal. */
  static readonly HOLD_LEASE_MS = 5000;
  static readonly RENEW_EVERY_MS = 1000;
  /** A request leaves only while its permit's lease covers at least this long more. */
  static readonly SEND_MARGIN_MS = 2000;
  /** Credits hold permits that come free within this long: enough for a poll and a round trip. */
  static readonly CREDIT_LOOKAHEAD_MS = 150;
  /**
   * This replica's sends leave at least this fraction of an interval (W / N) apart. A whole
   * interval would pace at exactly the limit, and every late answer would then push all later
   * sends back (a queue at full load); half breaks a burst up as well without that.
   */
  static readonly PACE_FRACTION = 0.5;
  /** A caller without a permit asks again after at least this long, at most after MAX_POLL_MS. */
  static readonly MIN_POLL_MS = 20;
  static readonly MAX_POLL_MS = 250;
  /** At most this many permits per statement. */
  static readonly MAX_BATCH = 64;
  /** Warn (once per this many) when a caller keeps losing its permits: this replica's holds lapse. */
  static readonly WARN_EVERY_LOST = 4;
  private readonly logger = new Logger('ProviderRateLimiter');
  /** N: how many calls may be under way, or answered within the last window, at once. */
  readonly permits: number;
  /** W in milliseconds. */
  readonly windowMs: number;
  /** This limiter's holder id in the table: one per instance, so a restarted replica holds nothing of its predecessor's. */
  readonly holderId = randomUUID();
  private readonly clock = new ClockOffset();
  /** Every permit this replica holds, idle, assigned to a caller or carrying a call (until its release is written). */
  private readonly mine = new Map<number, Permit>();
  private readonly idlePermits: Permit[] = [];
  private readonly credits: Waiter[] = [];
  private readonly queries: Waiter[] = [];
  /** The earliest local instant this replica's next send may leave (see pace()). */
  private nextPacedAt = -Infinity;
  private pumping = false;
  private pumpDone: Promise<void> = Promise.resolve();
  private wakePump: (() => void) | null = null;
  /** The earliest instant (database clock) a permit nobody holds comes free, as last seen. */
  private nextFreeAt: number | null = null;
  private ensured = false;
  private pendingReleases: Release[] = [];
  private releasing: Promise<void> | null = null;
  private renewal: Promise<void> | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private readonly local: LocalClock;
  /** See RateLimiterOptions.maxTransitMs; null: strict. */
  readonly maxTransitMs: number | null;

  constructor(
    private readonly sql: StatementRunner,
    ratePerSecond: number,
    options: RateLimiterOptions = {},
  ) {
    this.permits = Math.max(1, Math.floor(ratePerSecond));
    this.windowMs = (this.permits * 1000) / ratePerSecond;
    this.local = options.clock ?? MONOTONIC_CLOCK;
    this.maxTransitMs = options.maxTransitMs ?? null;
  }

  /** The average time between two sends at the full rate: W / N. */
  get slotIntervalMs(): number {
    return this.windowMs / this.permits;
  }

  /**
   * Until the credits this replica holds permits for have left (the latest such permit's free_at,
   * plus one interval), then one interval for each credit still waiting for a permit.
   */
  creditsReservedAheadMs(): number {
    const now = this.local.now();
    let latest = -Infinity;
    for (const permit of this.mine.values())
      if (permit.state !== 'sending' && !permit.lost) latest = Math.max(latest, this.localLatest(permit.freeAt));
    const held = latest === -Infinity ? 0 : Math.max(0, latest - now) + this.slotIntervalMs;
    return held + this.credits.length * this.slotIntervalMs;
  }

  /** Creates the budget's permits ahead of the first call, so a new deployment's first credits need not wait for them. */
  async onModuleInit(): Promise<void> {
    await this.ensurePermits().catch((err: unknown) =>
      this.logger.warn({ err }, 'creating the provider send permits failed; the first call will try again'),
    );
  }

  /** Stops renewing and gives back the permits nobody is using; ones carrying a call lapse with their lease. */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
    for (const w of this.credits.splice(0)) fail(w, new Error('provider rate limiter closed'));
    for (const w of this.queries.splice(0)) fail(w, new Error('provider rate limiter closed'));
    this.wake();
    await this.pumpDone;
    this.returnIdle();
    await this.releasing?.catch(() => undefined);
  }

  /**
   * Makes `call` under a permit of the shared budget: waits for one (credits as long as it takes,
   * ahead of queries), then calls, then releases the permit whatever the call did.
   */
  async send<T>(priority: ProviderCallPriority, call: () => Promise<T>, options: SendOptions = {}): Promise<T> {
    const permit = await this.acquire(priority, options.signal);
    permit.state = 'sending';
    const startedAt = this.local.now();
    let endedAt: number | null = null;
    try {
      return await callEnded.run(() => void (endedAt ??= this.local.now()), call);
    } finally {
      this.release(permit, this.countedAt(startedAt, endedAt ?? this.local.now()));
    }
  }

  /**
   * The latest instant (local clock) the provider may have counted a call started at `startedAt`
   * and answered (or given up) at `endedAt`: the answer, unless a transit bound says sooner.
   */
  private countedAt(startedAt: number, endedAt: number): number {
    return this.maxTransitMs === null ? endedAt : Math.min(endedAt, startedAt + this.maxTransitMs);
  }

  private async acquire(priority: ProviderCallPriority, signal: AbortSignal | undefined): Promise<Permit> {
    for (let attempt = 1; ; attempt += 1) {
      signal?.throwIfAborted();
      const permit = await this.take(priority, signal);
      try {
        await this.local.sleepUntil(this.localLatest(permit.freeAt), signal);
        await this.pace(signal);
        if (await this.covered(permit)) return permit;
      } catch (err) {
        this.giveBack(permit);
        throw err;
      }
      this.giveBack(permit);
      if (attempt % PgProviderRateLimiter.WARN_EVERY_LOST === 0) {
        this.logger.warn(
          `${priority}: ${attempt} send permits lost before use in a row; this replica's holds are lapsing (database slow or unreachable)`,
        );
      }
    }
  }

  /**
   * Spaces this replica's sends at least PACE_FRACTION of an interval (W / N) apart: permits that
   * come free together (after an idle spell, and from then on every cycle, as they were used
   * together) would otherwise send their calls in one burst, which the provider takes in one after
   * the other, and a caller who arrives just after a burst would wait a whole cycle for the next.
   * Only ever later, never earlier, than the permit allows, so the limit holds as before.
   */
  private async pace(signal: AbortSignal | undefined): Promise<void> {
    const at = Math.max(this.local.now(), this.nextPacedAt);
    this.nextPacedAt = at + this.slotIntervalMs * PgProviderRateLimiter.PACE_FRACTION;
    await this.local.sleepUntil(at, signal);
  }

  /** Whether a request may leave on the permit now: still ours, and the lease covers the margin (renewing once if not). */
  private async covered(permit: Permit): Promise<boolean> {
    for (let renewed = false; ; renewed = true) {
      if (permit.lost) return false;
      const { hi } = this.clock.bounds();
      if (this.local.now() + hi + PgProviderRateLimiter.SEND_MARGIN_MS <= permit.heldUntil) return true;
      if (renewed) return false;
      await this.renew();
    }
  }

  /** A permit assigned to this caller (held by this replica); the caller still has to wait for its free_at. */
  private take(priority: ProviderCallPriority, signal: AbortSignal | undefined): Promise<Permit> {
    return new Promise<Permit>((resolve, reject) => {
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
      if (!this.pumping) this.pumpDone = this.pump();
    });
  }

  /** One loop per replica: hands held permits to waiting callers, credits first, and holds more while some wait. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.closed) {
        this.assign();
        if (this.credits.length === 0 && this.queries.length === 0) break;
        const forCredits = this.credits.length > 0;
        const taken = await this.hold(forCredits);
        if (taken === null || taken > 0) continue;
        await this.idle(this.pollDelay(forCredits));
      }
    } finally {
      this.pumping = false;
    }
    this.returnIdle();
  }

  /** Idle permits to waiting callers: the earliest free to the longest waiting credit; to a query only when no credit waits. */
  private assign(): void {
    this.idlePermits.sort((a, b) => a.freeAt - b.freeAt);
    while (this.idlePermits.length > 0) {
      const waiter = this.credits.shift() ?? this.queries.shift();
      if (!waiter) return;
      const permit = this.idlePermits.shift()!;
      permit.state = 'assigned';
      settle(waiter, permit);
    }
  }

  /** One hold statement; answers how many permits it took, or null when the statement failed (its waiters are failed). */
  private async hold(forCredits: boolean): Promise<number | null> {
    const limiter = PgProviderRateLimiter;
    let count = 1;
    try {
      if (!this.ensured) await this.ensurePermits();
      // Counted after the first statement: callers who asked meanwhile share this hold.
      count = forCredits ? Math.min(this.credits.length, limiter.MAX_BATCH) : 1;
      if (count === 0) return null;
      const asked = this.local.now();
      const rows = await this.sql.query<HoldRow>(HOLD_PERMITS, [
        PROVIDER_BUDGET,
        this.permits,
        count,
        forCredits ? limiter.CREDIT_LOOKAHEAD_MS / 1000 : 0,
        this.holderId,
        limiter.HOLD_LEASE_MS / 1000,
        this.windowMs / 1000,
      ]);
      const answered = this.local.now();
      let taken = 0;
      for (const row of rows) {
        this.observeClock(row.db_now, asked, answered);
        if (row.slot === null) {
          this.nextFreeAt = row.next_free_at === null ? null : Number(row.next_free_at);
          // Fewer rows than permits: a new budget, a higher rate, or an emptied table.
          if (row.present !== null && row.present < this.permits) this.ensured = false;
          continue;
        }
        const permit: Permit = {
          slot: row.slot,
          freeAt: Number(row.free_at),
          heldUntil: Number(row.held_until),
          lost: false,
          state: 'idle',
          releasing: false,
        };
        this.mine.set(permit.slot, permit);
        this.idlePermits.push(permit);
        taken += 1;
      }
      if (taken > 0) this.startRenewing();
      return taken === 0 && !this.ensured ? null : taken;
    } catch (err) {
      const failed = forCredits ? this.credits.splice(0, count) : this.queries.splice(0, 1);
      for (const w of failed) fail(w, err);
      return null;
    }
  }

  private async ensurePermits(): Promise<void> {
    await this.sql.query(ENSURE_PERMITS, [
      PROVIDER_BUDGET,
      this.permits,
      (this.windowMs + PgProviderRateLimiter.HOLD_LEASE_MS) / 1000,
    ]);
    this.ensured = true;
  }

  /** When to ask again: credits shortly before the next known permit comes free, queries when it does. */
  private pollDelay(forCredits: boolean): number {
    const limiter = PgProviderRateLimiter;
    if (this.nextFreeAt === null) return limiter.MAX_POLL_MS;
    const ahead = forCredits ? limiter.CREDIT_LOOKAHEAD_MS : 0;
    const delay = this.localLatest(this.nextFreeAt) - ahead - this.local.now();
    return Math.min(limiter.MAX_POLL_MS, Math.max(limiter.MIN_POLL_MS, delay));
  }

  /** A permit assigned but not used (the caller gave up, or the hold was lost): back to the pool, or forgotten if lost. */
  private giveBack(permit: Permit): void {
    if (permit.lost) {
      this.mine.delete(permit.slot);
      return;
    }
    permit.state = 'idle';
    this.idlePermits.push(permit);
    if (!this.pumping) this.pumpDone = this.pump();
    else this.wake();
  }

  /** Returns the held permits nobody waits for, unused (free_at unchanged): another replica may need them. */
  private returnIdle(): void {
    for (const permit of this.idlePermits.splice(0)) this.release(permit, null);
  }

  /** `endedAt`: the latest instant the provider may have counted the call, on the local clock (see countedAt); null when the permit was not used. */
  private release(permit: Permit, endedAt: number | null): void {
    const used = endedAt !== null;
    const { hi } = this.clock.bounds();
    // Rounded up to the microsecond, the database's resolution: a bound must not round down.
    const answeredAt = used && Number.isFinite(hi) ? Math.ceil((endedAt + hi) * 1000) / 1000 : null;
    if (used) {
      const freeAt = (answeredAt ?? Infinity) + this.windowMs;
      if (Number.isFinite(freeAt)) this.nextFreeAt = Math.min(this.nextFreeAt ?? Infinity, freeAt);
    }
    if (permit.lost) {
      this.mine.delete(permit.slot);
      return;
    }
    permit.releasing = true;
    this.pendingReleases.push({ permit, answeredAt, used });
    if (!this.releasing) this.releasing = this.flushReleases();
  }

  /** Writes the pending releases, all in one statement; retried until written (the holds stay renewed meanwhile). */
  private async flushReleases(): Promise<void> {
    try {
      while (this.pendingReleases.length > 0) {
        const batch = this.pendingReleases.splice(0);
        try {
          await this.sql.query(RELEASE_PERMITS, [
            PROVIDER_BUDGET,
            batch.map((r) => r.permit.slot),
            batch.map((r) => r.used),
            batch.map((r) => r.answeredAt),
            this.windowMs / 1000,
            this.holderId,
          ]);
          for (const r of batch) if (this.mine.get(r.permit.slot) === r.permit) this.mine.delete(r.permit.slot);
          // Released permits are visible to every replica now, this one included.
          this.wake();
        } catch (err) {
          this.logger.warn({ err }, `releasing ${batch.length} provider send permit(s) failed; retrying`);
          this.pendingReleases.unshift(...batch);
          if (this.closed) return;
          await new Promise((resolve) => setTimeout(resolve, PgProviderRateLimiter.MIN_POLL_MS * 5));
        }
      }
    } finally {
      this.releasing = null;
    }
  }

  private startRenewing(): void {
    if (this.renewTimer || this.closed) return;
    this.renewTimer = setInterval(() => {
      if (this.mine.size === 0) {
        clearInterval(this.renewTimer!);
        this.renewTimer = null;
        return;
      }
      void this.renew();
    }, PgProviderRateLimiter.RENEW_EVERY_MS);
    this.renewTimer.unref();
  }

  /** One statement extends every hold of this replica; a held permit it does not return was taken over (or the table emptied). */
  private renew(): Promise<void> {
    this.renewal ??= (async () => {
      try {
        // Only permits held before the statement ran can be missing from its answer.
        const before = [...this.mine.values()];
        const asked = this.local.now();
        const rows = await this.sql.query<RenewRow>(RENEW_PERMITS, [
          PROVIDER_BUDGET,
          this.holderId,
          PgProviderRateLimiter.HOLD_LEASE_MS / 1000,
        ]);
        const answered = this.local.now();
        const renewed = new Map<number, number>();
        for (const row of rows) {
          this.observeClock(row.db_now, asked, answered);
          renewed.set(row.slot, Number(row.held_until));
        }
        for (const permit of before) {
          const until = renewed.get(permit.slot);
          if (until !== undefined) permit.heldUntil = Math.max(permit.heldUntil, until);
          else if (!permit.releasing && !permit.lost && this.mine.get(permit.slot) === permit) this.lose(permit);
        }
      } catch (err) {
        this.logger.warn({ err }, 'renewing the provider send permits failed; retrying');
      } finally {
        this.renewal = null;
      }
    })();
    return this.renewal;
  }

  private lose(permit: Permit): void {
    permit.lost = true;
    this.logger.warn(`provider send permit ${permit.slot} is no longer held by this replica (its lease lapsed)`);
    if (permit.state === 'idle') {
      const at = this.idlePermits.indexOf(permit);
      if (at >= 0) this.idlePermits.splice(at, 1);
      this.mine.delete(permit.slot);
    }
  }

  /**
   * Learns from a round trip where the database's clock stands against ours: it read `db_now`
   * after we asked and before the answer came back.
   */
  private observeClock(dbNow: string, asked: number, answered: number): void {
    const at = Number(dbNow);
    this.clock.observe(at - answered, at - asked, answered);
  }

  /** The latest local instant that may be `dbAt` on the database clock: waiting until then is never early. */
  private localLatest(dbAt: number): number {
    const { lo } = this.clock.bounds();
    return Number.isFinite(lo) ? dbAt - lo : dbAt - Date.now() + this.local.now();
  }

  /** Sleeps on the local clock until `ms` from now or until woken (a new caller, a release). */
  private async idle(ms: number): Promise<void> {
    const woken = new AbortController();
    const wake = () => woken.abort();
    this.wakePump = wake;
    try {
      await this.local.sleepUntil(this.local.now() + ms, woken.signal);
    } catch {
      // Woken early.
    } finally {
      if (this.wakePump === wake) this.wakePump = null;
    }
  }

  private wake(): void {
    this.wakePump?.();
  }
}

/**
 * What the database's clock reads minus ours (epoch ms), bounded by round trips: each statement
 * says the offset lies in [db_now − answered, db_now − asked]. The bounds of recent round trips
 * are intersected, so one slow answer (a busy database, a stalled event loop) does not blur when
 * a permit comes free: the fastest recent round trip decides. Only the last WINDOW_MS count, which
 * keeps the drift between two NTP-disciplined clocks negligible; bounds that no longer overlap
 * mean a clock was stepped, and only the newest round trip is kept.
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

function settle(waiter: Waiter, permit: Permit): void {
  if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  waiter.resolve(permit);
}

function fail(waiter: Waiter, err: unknown): void {
  if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  waiter.reject(err);
}

/** setTimeout may fire a little early (millisecond rounding); a permit must never be used before it is free. */
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
