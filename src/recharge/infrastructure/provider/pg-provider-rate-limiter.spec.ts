import { Logger } from '@nestjs/common';
import { Statement, StatementRunner } from '../../../database/pg-statements';
import { LocalClock, markProviderCallEnded, PgProviderRateLimiter, PROVIDER_BUDGET } from './pg-provider-rate-limiter';

/**
 * Virtual time, so what is asserted does not depend on how busy the machine is: sleepers wake in
 * the order of their deadlines, each when nothing else is left to run, and time jumps to it.
 */
class VirtualClock implements LocalClock {
  t = 1_800_000_000_000;
  private timers: Array<{ at: number; wake: () => void; fail: (err: unknown) => void }> = [];
  private ticking = false;

  now = (): number => this.t;

  sleepUntil = (at: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((wake, fail) => {
      if (signal?.aborted) return fail(signal.reason);
      const timer = { at, wake, fail };
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((t) => t !== timer);
          fail(signal.reason);
        },
        { once: true },
      );
      this.timers.push(timer);
      this.tick();
    });

  /** Lets `ms` pass (a database answering later), after everything runnable now has run. */
  async pass(ms: number): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.t += ms;
  }

  private tick(): void {
    if (this.ticking) return;
    this.ticking = true;
    setImmediate(() => {
      this.ticking = false;
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers.shift();
      if (!next) return;
      this.t = Math.max(this.t, next.at);
      next.wake();
      if (this.timers.length > 0) this.tick();
    });
  }
}

interface Row {
  slot: number;
  freeAt: number;
  heldBy: string | null;
  heldUntil: number | null;
}

/**
 * The permits table in memory, on a database clock `offsetMs` ahead of ours, answering each
 * statement `answerAfterMs` after it arrived (it runs when it arrives). Enough of the four
 * statements' meaning to watch what the limiter asks for.
 */
class FakeDatabase {
  rows: Row[] = [];
  readonly budgets = new Set<string>();
  offsetMs = 0;
  answerAfterMs = 0;
  readonly statements: Array<{ name: string; values: unknown[] }> = [];
  /** Runs right after a statement took effect, before its answer is on its way. */
  afterStatement: (name: string) => void = () => undefined;
  constructor(private readonly clock: VirtualClock) {}

  dbNow(): number {
    return this.clock.now() + this.offsetMs;
  }

  seed(count: number, freeAt = this.dbNow()): void {
    for (let slot = 0; slot < count; slot += 1) this.rows.push({ slot, freeAt, heldBy: null, heldUntil: null });
  }

  readonly sql: StatementRunner = {
    query: async <T>(statement: Statement, values: unknown[]): Promise<T[]> => {
      this.statements.push({ name: statement.name, values });
      const rows = this.run(statement.name, values);
      this.afterStatement(statement.name);
      await this.clock.pass(this.answerAfterMs);
      return rows as T[];
    },
  };

  count(name: string): number {
    return this.statements.filter((s) => s.name.includes(name)).length;
  }

  private run(name: string, v: unknown[]): unknown[] {
    const now = this.dbNow();
    if (name.includes('ensure')) {
      const [budget, n, emptiedS] = v as [string, number, number];
      const fresh = !this.budgets.has(budget);
      this.budgets.add(budget);
      const freeAt = fresh || this.rows.length > 0 ? now : now + emptiedS * 1000;
      for (let slot = 0; slot < n; slot += 1)
        if (!this.rows.some((r) => r.slot === slot)) this.rows.push({ slot, freeAt, heldBy: null, heldUntil: null });
      return [];
    }
    if (name.includes('hold')) {
      const [, n, k, aheadS, holder, leaseS, windowS] = v as [string, number, number, number, string, number, number];
      const effective = (r: Row) => (r.heldBy === null ? r.freeAt : Math.max(r.freeAt, r.heldUntil! + windowS * 1000));
      const takable = this.rows.filter((r) => r.slot < n && (r.heldBy === null || r.heldUntil! < now));
      const taken = takable
        .filter((r) => effective(r) <= now + aheadS * 1000)
        .sort((a, b) => effective(a) - effective(b) || a.slot - b.slot)
        .slice(0, k);
      const left = takable.filter((r) => !taken.includes(r));
      const out: unknown[] = taken.map((r) => {
        r.freeAt = effective(r);
        r.heldBy = holder;
        r.heldUntil = now + leaseS * 1000;
        return { slot: r.slot, free_at: String(r.freeAt), held_until: String(r.heldUntil), db_now: String(now) };
      });
      const next = left.length > 0 ? Math.min(...left.map(effective)) : null;
      out.push({
        slot: null,
        next_free_at: next === null ? null : String(next),
        present: this.rows.filter((r) => r.slot < n).length,
        db_now: String(now),
      });
      return out;
    }
    if (name.includes('renew')) {
      const [, holder, leaseS] = v as [string, string, number];
      return this.rows
        .filter((r) => r.heldBy === holder)
        .map((r) => {
          r.heldUntil = now + leaseS * 1000;
          return { slot: r.slot, held_until: String(r.heldUntil), db_now: String(now) };
        });
    }
    if (name.includes('release')) {
      const [, slots, used, answered, windowS, holder] = v as [
        string,
        number[],
        boolean[],
        Array<number | null>,
        number,
        string,
      ];
      slots.forEach((slot, i) => {
        const r = this.rows.find((row) => row.slot === slot && row.heldBy === holder);
        if (!r) return;
        if (used[i]) r.freeAt = Math.max(r.freeAt, Math.min(now, answered[i] ?? Infinity) + windowS * 1000);
        r.heldBy = null;
        r.heldUntil = null;
      });
      return [];
    }
    throw new Error(`unexpected statement ${name}`);
  }
}

describe('PgProviderRateLimiter', () => {
  let clock: VirtualClock;
  let db: FakeDatabase;
  const limiters: PgProviderRateLimiter[] = [];
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['error', 'warn', 'log']));
  beforeEach(() => {
    clock = new VirtualClock();
    db = new FakeDatabase(clock);
  });
  afterEach(async () => {
    await Promise.all(limiters.splice(0).map((l) => l.close()));
  });

  function limiter(rate: number, maxTransitMs: number | null = null): PgProviderRateLimiter {
    const l = new PgProviderRateLimiter(db.sql, rate, { clock, maxTransitMs });
    limiters.push(l);
    return l;
  }

  it('has floor(rate) permits and a window of N / rate seconds; the schedule reads one window per N sends', () => {
    expect([limiter(10).permits, limiter(10).windowMs, limiter(10).slotIntervalMs]).toEqual([10, 1000, 100]);
    expect([limiter(0.5).permits, limiter(0.5).windowMs]).toEqual([1, 2000]);
  });

  it('waits until its permit is free on the later bound of the database clock, never earlier', async () => {
    db.offsetMs = 5_000;
    db.answerAfterMs = 7;
    db.seed(1, db.dbNow() + 60);
    const freeAt = db.rows[0]!.freeAt;
    let sentAtDb = 0;
    await limiter(1).send('credit', async () => void (sentAtDb = db.dbNow()));
    // Each answer took 7 ms, so the database clock is known to within 7 ms: the send waits for
    // the later bound (at most 7 ms past the permit's free_at), never for the earlier one.
    expect(sentAtDb).toBeGreaterThanOrEqual(freeAt);
    expect(sentAtDb).toBeLessThanOrEqual(freeAt + 7);
    expect(db.statements[0]!.values[0]).toBe(PROVIDER_BUDGET);
  });

  it('releases the permit a window after the answer, whatever the call did, and never before the answer', async () => {
    db.seed(1);
    const l = limiter(1);
    let answeredAtDb = 0;
    await expect(
      l.send('credit', async () => {
        await clock.pass(40);
        answeredAtDb = db.dbNow();
        throw new Error('socket hang up');
      }),
    ).rejects.toThrow('socket hang up');
    await waitUntil(() => db.rows[0]!.heldBy === null);
    expect(db.rows[0]!.freeAt).toBeGreaterThanOrEqual(answeredAtDb + 1000);
    // The next call on it waits for that.
    let sentAtDb = 0;
    await l.send('credit', async () => void (sentAtDb = db.dbNow()));
    expect(sentAtDb).toBeGreaterThanOrEqual(answeredAtDb + 1000);
  });

  it('counts the window from when the call said its answer was in, not from the caller’s work after it', async () => {
    db.seed(1);
    const l = limiter(1);
    expect(l.maxTransitMs).toBeNull(); // the default: however late the answer, the window counts from it
    let answeredAtDb = 0;
    await l.send('credit', async () => {
      await clock.pass(40);
      answeredAtDb = db.dbNow();
      markProviderCallEnded();
      // Writing the call log, after the answer.
      await clock.pass(100);
    });
    await waitUntil(() => db.rows[0]!.heldBy === null);
    expect(db.rows[0]!.freeAt).toBe(answeredAtDb + 1000);
  });

  it('with a transit bound, counts the window from the start plus the bound when that comes before the answer', async () => {
    db.seed(1);
    const l = limiter(1, 10);
    let startedAtDb = 0;
    await l.send('credit', async () => {
      startedAtDb = db.dbNow();
      await clock.pass(40); // the provider answers 40 ms later
    });
    await waitUntil(() => db.rows[0]!.heldBy === null);
    expect(db.rows[0]!.freeAt).toBe(startedAtDb + 10 + 1000);
    // An answer that comes within the bound still counts from the answer.
    let answeredAtDb = 0;
    await l.send('credit', async () => {
      await clock.pass(4);
      answeredAtDb = db.dbNow();
    });
    await waitUntil(() => db.rows[0]!.heldBy === null);
    expect(db.rows[0]!.freeAt).toBe(answeredAtDb + 1000);
  });

  it('spaces its sends half an interval apart when several permits are free at once, instead of one burst', async () => {
    db.seed(10);
    const l = limiter(10);
    const sentAt: number[] = [];
    await Promise.all(Array.from({ length: 5 }, () => l.send('credit', async () => void sentAt.push(clock.now()))));
    const gaps = sentAt.slice(1).map((t, i) => t - sentAt[i]!);
    expect(gaps).toEqual([50, 50, 50, 50]);
  });

  it('holds permits for every credit waiting in one statement', async () => {
    db.seed(10);
    const l = limiter(10);
    await Promise.all(Array.from({ length: 5 }, () => l.send('credit', async () => undefined)));
    // One ensure (the limiter's first statement), then one hold for all five.
    expect(db.statements.filter((s) => s.name.includes('hold')).map((s) => s.values[2])).toEqual([5]);
  });

  it('serves its credits before its queries, and a query only takes a permit that is free now', async () => {
    db.seed(1);
    const l = limiter(1);
    const order: string[] = [];
    const record = (kind: string) => async () => void order.push(kind);
    await Promise.all([
      l.send('credit', record('credit')),
      l.send('query', record('query')),
      l.send('credit', record('credit')),
    ]);
    expect(order).toEqual(['credit', 'credit', 'query']);
    const queryHolds = db.statements.filter((s) => s.name.includes('hold') && s.values[3] === 0);
    expect(queryHolds.length).toBeGreaterThan(0);
  });

  it('stops waiting when the caller gives up, makes no call, and gives the permit back unused', async () => {
    db.seed(1, db.dbNow() + 100);
    const l = limiter(1);
    const controller = new AbortController();
    let called = false;
    // The caller gives up just as its permit is held.
    db.afterStatement = (name) => {
      if (name.includes('hold') && db.rows[0]!.heldBy !== null) controller.abort(new Error('gave up'));
    };
    const sent = l.send('credit', async () => void (called = true), { signal: controller.signal });
    await expect(sent).rejects.toThrow('gave up');
    await waitUntil(() => db.rows[0]!.heldBy === null);
    expect(called).toBe(false);
    expect(db.rows[0]!.freeAt).toBe(1_800_000_000_100);
  });

  it('never sends on a permit whose lease may have lapsed: it renews first, and takes another permit when this one was taken over', async () => {
    db.seed(2);
    const l = limiter(2);
    // Slow answers: by the time the hold's answer is in, its lease covers less than the margin.
    db.answerAfterMs = PgProviderRateLimiter.HOLD_LEASE_MS - PgProviderRateLimiter.SEND_MARGIN_MS + 100;
    const held = db.count('hold');
    let sentOn = -1;
    const sent = l.send('credit', async () => {
      sentOn = db.rows.find((r) => r.heldBy === l.holderId)!.slot;
    });
    await waitUntil(() => db.count('hold') > held);
    // Another replica took permit 0 over meanwhile (as if this replica's lease had lapsed).
    const first = db.rows.find((r) => r.heldBy === l.holderId)!;
    first.heldBy = 'another replica';
    db.answerAfterMs = 0;
    await sent;
    expect(db.count('renew')).toBeGreaterThan(0);
    expect(sentOn).not.toBe(first.slot);
    expect(first.heldBy).toBe('another replica');
  });

  it('counts the credits it holds permits for and the ones waiting as work reserved ahead', async () => {
    db.seed(1, db.dbNow() + 500);
    const l = limiter(1);
    expect(l.creditsReservedAheadMs()).toBe(0);
    const sends = Array.from({ length: 3 }, () => l.send('credit', async () => undefined));
    expect(l.creditsReservedAheadMs()).toBe(3 * 1000);
    await Promise.all(sends);
    await waitUntil(() => db.rows[0]!.heldBy === null);
    expect(l.creditsReservedAheadMs()).toBe(0);
  });
});

async function waitUntil(probe: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !probe(); i += 1) await new Promise((resolve) => setImmediate(resolve));
  if (!probe()) throw new Error('never happened');
}
