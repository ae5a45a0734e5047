import { Logger } from '@nestjs/common';
import { Pool } from 'pg';
import { createTestDatabase } from '../../../../test/support/database';
import { Statement, StatementRunner } from '../../../database/pg-statements';
import { PgProviderRateLimiter, PROVIDER_BUDGET_ROW, SlotGrant } from './pg-provider-rate-limiter';

/**
 * The rate budget on the real PostgreSQL, with two limiter instances on two connection pools
 * playing two replicas. What is asserted is read from the database's own schedule (each grant's
 * slot on the database clock), not from timings: one budget for every action and replica, no
 * request without a reserved slot, credits before quota queries.
 */
const RATE = 20;
const INTERVAL_MS = (PgProviderRateLimiter.SAFETY_FACTOR * 1000) / RATE;
/** Database timestamps are microseconds; the slot arithmetic is in float milliseconds. */
const EPSILON_MS = 0.01;

interface Replica {
  limiter: PgProviderRateLimiter;
  /** Reservation statements answered so far. */
  statements: () => number;
  /** The first slot of every reservation this replica made (batches: the first of k), database clock. */
  reserved: () => number[];
  /** Delay the next `count` answers by `ms` (a replica whose answers arrive late). */
  delayAnswers: (count: number, ms: number) => void;
}

describe('PgProviderRateLimiter on PostgreSQL, two replicas', () => {
  let url: string;
  const pools: Pool[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    url = await createTestDatabase();
  });
  afterAll(async () => {
    Logger.overrideLogger(['error', 'warn', 'log']);
    await Promise.all(pools.map((p) => p.end()));
  });
  beforeEach(async () => {
    // Every test starts from an idle budget.
    await admin().query('DELETE FROM provider_rate_limits');
  });

  function admin(): Pool {
    if (!pools[0]) pools[0] = new Pool({ connectionString: url, max: 2 });
    return pools[0];
  }

  function replica(): Replica {
    const pool = new Pool({ connectionString: url, max: 4 });
    pools.push(pool);
    let answered = 0;
    const reserved: number[] = [];
    let delayed = 0;
    let delayMs = 0;
    const sql: StatementRunner = {
      async query<T>(statement: Statement, values: unknown[]): Promise<T[]> {
        const { rows } = await pool.query({ name: statement.name, text: statement.text, values });
        if (delayed > 0) {
          delayed -= 1;
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
        answered += 1;
        for (const row of rows as Array<{ slot_at: string | null }>)
          if (row.slot_at !== null) reserved.push(Number(row.slot_at));
        return rows as T[];
      },
    };
    return {
      limiter: new PgProviderRateLimiter(sql, RATE),
      statements: () => answered,
      reserved: () => [...reserved],
      delayAnswers: (count, ms) => {
        delayed = count;
        delayMs = ms;
      },
    };
  }

  async function nextSlotAt(): Promise<number> {
    const { rows } = await admin().query<{ at: string }>(
      'SELECT EXTRACT(EPOCH FROM next_slot_at) * 1000 AS at FROM provider_rate_limits WHERE name = $1',
      [PROVIDER_BUDGET_ROW],
    );
    return Number(rows[0]!.at);
  }

  /** Every pair of grants is at least one interval apart: one schedule, no shared slot. */
  function expectOneSchedule(grants: SlotGrant[]): void {
    const slots = grants.map((g) => g.slotAt).sort((a, b) => a - b);
    const gaps = slots.slice(1).map((at, i) => at - slots[i]!);
    expect(gaps.filter((gap) => gap < INTERVAL_MS - EPSILON_MS)).toEqual([]);
  }

  it('gives credits and quota queries of both replicas slots of one schedule, one interval apart', async () => {
    const a = replica();
    const b = replica();
    // Both replicas, both kinds, asking at once; queries only get idle slots, so they come last
    // here, but from the same budget: nothing overlaps anything.
    const grants = await Promise.all([
      ...Array.from({ length: 6 }, () => a.limiter.acquire('credit')),
      ...Array.from({ length: 6 }, () => b.limiter.acquire('credit')),
      a.limiter.acquire('query'),
      b.limiter.acquire('query'),
    ]);
    expect(grants.map((g) => g.priority).sort()).toEqual([...Array(12).fill('credit'), 'query', 'query']);
    expectOneSchedule(grants);
    // The budget's single row holds the end of the last slot handed out.
    expect(await nextSlotAt()).toBeCloseTo(Math.max(...grants.map((g) => g.slotAt)) + INTERVAL_MS, 1);
    const rows = await admin().query<{ name: string }>('SELECT name FROM provider_rate_limits');
    expect(rows.rows).toEqual([{ name: PROVIDER_BUDGET_ROW }]);
  });

  it('a query on an idle budget takes the next slot at once, and a credit of the other replica comes one interval later', async () => {
    const a = replica();
    const b = replica();
    const query = await b.limiter.acquire('query');
    const credit = await a.limiter.acquire('credit');
    // (A query whose answer came back too late reserves again, so the count may exceed one on a busy machine.)
    expect(b.reserved()).toHaveLength(query.reservations);
    expect(credit.slotAt - query.slotAt).toBeGreaterThanOrEqual(INTERVAL_MS - EPSILON_MS);
  });

  it('never lets a request out on a late slot: a replica whose answers arrive late gives each slot up and reserves again, on the shared schedule', async () => {
    const a = replica();
    const b = replica();
    // Six answers in a row arrive past MAX_LATENESS_MS: today's main sent anyway after four.
    const lateAnswers = 6;
    a.delayAnswers(lateAnswers, PgProviderRateLimiter.MAX_LATENESS_MS + 40);
    const [late, other] = await Promise.all([a.limiter.acquire('credit'), b.limiter.acquire('credit')]);
    // At least one more than the late answers (more if the machine is so busy that a prompt answer
    // still comes back late), and every one of them a slot reserved on the shared schedule.
    expect(late.reservations).toBeGreaterThanOrEqual(lateAnswers + 1);
    expect(a.reserved()).toHaveLength(late.reservations);
    // What it sent in is the last slot it reserved; the given-up ones stay used up in the shared
    // schedule, apart from the other replica's slot and from each other.
    expect(late.slotAt).toBe(a.reserved().at(-1));
    expectOneSchedule(
      [...a.reserved(), ...b.reserved()].map((slotAt) => ({ priority: 'credit', slotAt, reservations: 1 })),
    );
    expect(b.reserved()).toHaveLength(other.reservations);
    expect(b.reserved().at(-1)).toBe(other.slotAt);
  });

  it('puts credits first across replicas: a query waits behind every credit of either replica that is waiting, even ones asked after it', async () => {
    const a = replica();
    const b = replica();
    // A backlog of credits on replica A (1.5 s of slots) ...
    const backlog = Array.from({ length: 30 }, () => a.limiter.acquire('credit'));
    await waitFor(async () => a.statements() >= 2); // the first slot and the batch behind it are reserved
    // ... then a quota query on replica B, then more credits on B while the query waits.
    const query = b.limiter.acquire('query');
    const later = Array.from({ length: 5 }, () => b.limiter.acquire('credit'));
    const credits = await Promise.all([...backlog, ...later]);
    const queryGrant = await query;
    for (const credit of credits) expect(queryGrant.slotAt).toBeGreaterThan(credit.slotAt);
    expectOneSchedule([...credits, queryGrant]);
  });

  it('a query that gives up while credits keep the budget busy takes no slot', async () => {
    const a = replica();
    const b = replica();
    const backlog = Array.from({ length: 20 }, () => a.limiter.acquire('credit'));
    await waitFor(async () => a.statements() >= 2);
    await expect(b.limiter.acquire('query', { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    await Promise.all(backlog);
    // Replica B asked and was told "busy"; it never reserved a slot.
    expect(b.statements()).toBeGreaterThan(0);
    expect(b.reserved()).toEqual([]);
  });
});

async function waitFor(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
