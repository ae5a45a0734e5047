import { Logger } from '@nestjs/common';
import { StatementRunner } from '../../../database/pg-statements';
import { LocalClock, MONOTONIC_CLOCK, PgProviderRateLimiter } from './pg-provider-rate-limiter';

/**
 * Virtual time, so what is asserted does not depend on how busy the machine is: sleepers wake in
 * the order of their deadlines, each when nothing else is left to run, and time jumps to it.
 */
class VirtualClock implements LocalClock {
  t = 1_800_000_000_000;
  private timers: Array<{ at: number; wake: () => void }> = [];
  private ticking = false;

  now = (): number => this.t;

  sleepUntil = (at: number): Promise<void> =>
    new Promise<void>((wake) => {
      this.timers.push({ at, wake });
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

/**
 * A database whose clock is ours: it computes the slot `queuedMs` after the statement arrived
 * (time spent queued on the row lock), the first slot beginning `waitMs` after that, and answers
 * `answerAfterMs` after the statement arrived.
 */
function fakeDatabase(
  clock: VirtualClock,
  answers: Array<{ answerAfterMs: number; waitMs: number; queuedMs?: number }>,
) {
  const calls: unknown[][] = [];
  const sql = {
    query: async (_statement: unknown, params: unknown[]) => {
      calls.push(params);
      const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!;
      const started = clock.now();
      const computed = started + (answer.queuedMs ?? 0);
      await clock.pass(answer.answerAfterMs);
      return [{ slot_at: String(computed + answer.waitMs), db_now: String(computed) }];
    },
  } as unknown as StatementRunner;
  return { sql, calls };
}

describe('PgProviderRateLimiter', () => {
  let clock: VirtualClock;
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['error', 'warn', 'log']));
  beforeEach(() => (clock = new VirtualClock()));

  it('reserves one slot spaced SAFETY_FACTOR/rate on the one row of the whole provider, and waits until it begins, never earlier', async () => {
    const { sql, calls } = fakeDatabase(clock, [{ answerAfterMs: 0, waitMs: 60 }]);
    const started = clock.now();
    const grant = await new PgProviderRateLimiter(sql, 20, clock).acquire('credit');
    expect(clock.now() - started).toBeGreaterThanOrEqual(60);
    expect(grant).toEqual({ priority: 'credit', slotAt: started + 60, reservations: 1 });
    expect(calls).toHaveLength(1);
    const [row, seconds] = calls[0] as [string, number];
    // One row for the whole provider, whatever the action: one budget.
    expect(row).toBe('provider');
    expect(seconds).toBeCloseTo(PgProviderRateLimiter.SAFETY_FACTOR / 20, 9);
  });

  it('serves callers who ask while a reservation is on its way with one statement for all of them, one interval apart', async () => {
    const { sql, calls } = fakeDatabase(clock, [
      { answerAfterMs: 5, waitMs: 0 },
      { answerAfterMs: 5, waitMs: 40 },
    ]);
    const limiter = new PgProviderRateLimiter(sql, 20, clock);
    const started = clock.now();
    const sentAt = await Promise.all(
      Array.from({ length: 5 }, () => limiter.acquire('credit').then(() => clock.now() - started)),
    );
    // The first caller's statement was already on its way; the four others share the next one.
    const interval = PgProviderRateLimiter.SAFETY_FACTOR / 20;
    expect(calls.map((params) => params[1])).toEqual([expect.closeTo(interval, 9), expect.closeTo(4 * interval, 9)]);
    const later = sentAt.slice(1).sort((a, b) => a - b);
    for (let i = 0; i < later.length; i += 1) expect(later[i]).toBeGreaterThanOrEqual(5 + 40 + i * interval * 1000);
  });

  it('gives up a slot it would use too late (its answer arrived late) and reserves a new one', async () => {
    // The first answer comes 60 ms after the question: the slot may have begun 60 ms ago.
    const { sql, calls } = fakeDatabase(clock, [
      { answerAfterMs: 60, waitMs: 0 },
      { answerAfterMs: 0, waitMs: 10 },
    ]);
    const grant = await new PgProviderRateLimiter(sql, 20, clock).acquire('credit');
    expect(calls).toHaveLength(2);
    expect(grant.reservations).toBe(2);
  });

  it('does not count time queued on the row lock as lateness once a fast round trip has placed the database clock', async () => {
    const { sql, calls } = fakeDatabase(clock, [
      { answerAfterMs: 1, waitMs: 5 },
      { answerAfterMs: 60, waitMs: 0, queuedMs: 55 },
    ]);
    const limiter = new PgProviderRateLimiter(sql, 20, clock);
    await limiter.acquire('credit');
    expect((await limiter.acquire('credit')).reservations).toBe(1);
    expect(calls).toHaveLength(2);
  });

  it('places a slot by the fastest recent round trip: one slow answer does not make its slot look late', async () => {
    const { sql, calls } = fakeDatabase(clock, [
      { answerAfterMs: 0, waitMs: 5 },
      // Answered 60 ms after it was asked, for a slot 100 ms after the database computed it: the
      // first round trip already told where the database's clock stands, so the slot is known to
      // begin 40 ms after the answer, not anywhere within 60 ms of it.
      { answerAfterMs: 60, waitMs: 100 },
    ]);
    const limiter = new PgProviderRateLimiter(sql, 20, clock);
    await limiter.acquire('credit');
    const grant = await limiter.acquire('credit');
    expect(grant.reservations).toBe(1);
    expect(calls).toHaveLength(2);
  });

  it('never sends on a late slot, however many in a row: it keeps reserving until one is punctual', async () => {
    const late = { answerAfterMs: PgProviderRateLimiter.MAX_LATENESS_MS + 30, waitMs: 0 };
    const { sql, calls } = fakeDatabase(clock, [
      ...Array.from({ length: 9 }, () => late),
      { answerAfterMs: 0, waitMs: 5 },
    ]);
    const grant = await new PgProviderRateLimiter(sql, 20, clock).acquire('credit');
    expect(calls).toHaveLength(10);
    expect(grant.reservations).toBe(10);
  });

  it('stops waiting when the caller gives up, and sends nothing', async () => {
    // Real time here: a slot 10 s away, and a caller that waits 20 ms at most.
    const now = () => MONOTONIC_CLOCK.now();
    const sql = {
      query: async () => [{ slot_at: String(now() + 10_000), db_now: String(now()) }],
    } as unknown as StatementRunner;
    const limiter = new PgProviderRateLimiter(sql, 20);
    await expect(limiter.acquire('credit', { signal: AbortSignal.timeout(20) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
  });
});
