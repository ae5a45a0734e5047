import { Logger } from '@nestjs/common';
import { StatementRunner } from '../../../database/pg-statements';
import { PgProviderRateLimiter } from './pg-provider-rate-limiter';

/** A database whose reservation answers after `answerAfterMs`, of which `queuedMs` spent on the row lock. */
function fakeDatabase(answers: Array<{ answerAfterMs: number; waitMs: number; queuedMs?: number }>) {
  const calls: unknown[][] = [];
  const sql = {
    query: async (_statement: unknown, params: unknown[]) => {
      calls.push(params);
      const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!;
      await new Promise((resolve) => setTimeout(resolve, answer.answerAfterMs));
      return [{ wait_ms: String(answer.waitMs), queued_ms: String(answer.queuedMs ?? 0), slot_at: '0' }];
    },
  } as unknown as StatementRunner;
  return { sql, calls };
}

describe('PgProviderRateLimiter', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['error', 'warn', 'log']));

  it('reserves one slot spaced 1.03/rate and waits until it begins, never earlier', async () => {
    const { sql, calls } = fakeDatabase([{ answerAfterMs: 0, waitMs: 60 }]);
    const started = performance.now();
    await new PgProviderRateLimiter(sql, 20).acquire('credit');
    expect(performance.now() - started).toBeGreaterThanOrEqual(60);
    expect(calls).toHaveLength(1);
    const [row, ...intervals] = calls[0] as [string, number];
    // One row for the whole provider, whatever the action: one budget.
    expect(row).toBe('provider');
    for (const seconds of intervals) expect(seconds).toBeCloseTo(0.0515, 9);
  });

  it('serves callers who ask while a reservation is on its way with one statement for all of them, one interval apart', async () => {
    const { sql, calls } = fakeDatabase([
      { answerAfterMs: 5, waitMs: 0 },
      { answerAfterMs: 5, waitMs: 40 },
    ]);
    const limiter = new PgProviderRateLimiter(sql, 20);
    const started = performance.now();
    const sentAt = await Promise.all(
      Array.from({ length: 5 }, () => limiter.acquire('credit').then(() => performance.now() - started)),
    );
    // The first caller's statement was already on its way; the four others share the next one.
    expect(calls.map((params) => params[1])).toEqual([expect.closeTo(0.0515, 9), expect.closeTo(4 * 0.0515, 9)]);
    const later = sentAt.slice(1).sort((a, b) => a - b);
    for (let i = 0; i < later.length; i += 1) expect(later[i]).toBeGreaterThanOrEqual(10 + 40 + i * 51.5 - 1);
  });

  it('gives up a slot it would use too late (its answer arrived late) and reserves a new one', async () => {
    // The first answer comes 60 ms after the question: the slot may have begun 60 ms ago.
    const { sql, calls } = fakeDatabase([
      { answerAfterMs: 60, waitMs: 0 },
      { answerAfterMs: 0, waitMs: 10 },
    ]);
    await new PgProviderRateLimiter(sql, 20).acquire('credit');
    expect(calls).toHaveLength(2);
  });

  it('does not count time queued on the row lock before the slot was computed as lateness', async () => {
    const { sql, calls } = fakeDatabase([{ answerAfterMs: 60, waitMs: 0, queuedMs: 55 }]);
    await new PgProviderRateLimiter(sql, 20).acquire('credit');
    expect(calls).toHaveLength(1);
  });

  it('never sends on a late slot, however many in a row: it keeps reserving until one is punctual', async () => {
    const late = { answerAfterMs: PgProviderRateLimiter.MAX_LATENESS_MS + 30, waitMs: 0 };
    const { sql, calls } = fakeDatabase([...Array.from({ length: 9 }, () => late), { answerAfterMs: 0, waitMs: 5 }]);
    const grant = await new PgProviderRateLimiter(sql, 20).acquire('credit');
    expect(calls).toHaveLength(10);
    expect(grant.reservations).toBe(10);
  });

  it('stops waiting when the caller gives up, and sends nothing', async () => {
    const { sql } = fakeDatabase([{ answerAfterMs: 0, waitMs: 10_000 }]);
    const limiter = new PgProviderRateLimiter(sql, 20);
    await expect(limiter.acquire('credit', { signal: AbortSignal.timeout(20) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
  });
});
