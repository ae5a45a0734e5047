import { Logger } from '@nestjs/common';
import { Pool } from 'pg';
import { createTestDatabase } from '../../../../test/support/database';
import { Statement, StatementRunner } from '../../../database/pg-statements';
import { MONOTONIC_CLOCK, PgProviderRateLimiter, PROVIDER_BUDGET } from './pg-provider-rate-limiter';

/**
 * The send permits on the real PostgreSQL, with limiter instances on separate connection pools
 * playing replicas, and a fake provider that records when each request "arrives". What is
 * asserted is what the provider would see: never more than N arrivals in any window W, whatever
 * happens between a grant and the arrival.
 */
const RATE = 10;
const WINDOW_MS = 1000;

interface Replica {
  limiter: PgProviderRateLimiter;
  /** Statements answered so far. */
  statements: () => number;
  /** Every statement fails from now on: the replica is cut off from the database (or dead). */
  cutOff: () => void;
}

describe('PgProviderRateLimiter on PostgreSQL, several replicas', () => {
  let url: string;
  const pools: Pool[] = [];
  const limiters: PgProviderRateLimiter[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    url = await createTestDatabase();
  });
  afterAll(async () => {
    Logger.overrideLogger(['error', 'warn', 'log']);
    await Promise.all(pools.map((p) => p.end()));
  });
  beforeEach(async () => {
    // Every test starts from a budget nobody has used: all permits free now.
    await admin().query('DELETE FROM provider_send_permits');
  });
  afterEach(async () => {
    await Promise.all(limiters.splice(0).map((l) => l.close()));
  });

  function admin(): Pool {
    if (!pools[0]) pools[0] = new Pool({ connectionString: url, max: 2 });
    return pools[0];
  }

  async function seed(permits: number): Promise<void> {
    await admin().query(
      `INSERT INTO provider_send_permits (budget, slot, free_at) SELECT $1, s, clock_timestamp() FROM generate_series(0, $2::int - 1) s`,
      [PROVIDER_BUDGET, permits],
    );
  }

  /** A replica whose pool has a connection open already: a first connect is slow on a busy machine. */
  async function replica(rate = RATE, maxTransitMs: number | null = null): Promise<Replica> {
    const pool = new Pool({ connectionString: url, max: 4 });
    pools.push(pool);
    await pool.query('SELECT 1');
    let answered = 0;
    let cut = false;
    const sql: StatementRunner = {
      async query<T>(statement: Statement, values: unknown[]): Promise<T[]> {
        if (cut) throw new Error('cut off from the database');
        const { rows } = await pool.query({ name: statement.name, text: statement.text, values });
        answered += 1;
        return rows as T[];
      },
    };
    const limiter = new PgProviderRateLimiter(sql, rate, { maxTransitMs });
    limiters.push(limiter);
    return { limiter, statements: () => answered, cutOff: () => (cut = true) };
  }

  const now = () => MONOTONIC_CLOCK.now();

  /** The most arrivals in any window of `windowMs` (arrivals on one clock, any order). */
  function mostInAnyWindow(arrivals: number[], windowMs: number): number {
    const sorted = [...arrivals].sort((a, b) => a - b);
    let most = 0;
    for (let i = 0, j = 0; j < sorted.length; j += 1) {
      while (sorted[j]! - sorted[i]! >= windowMs) i += 1;
      most = Math.max(most, j - i + 1);
    }
    return most;
  }

  it('lets no more than N requests arrive in any window, with three replicas whose requests are delayed at random between the grant and the arrival', async () => {
    await seed(RATE);
    const random = mulberry32(16);
    const replicas = await Promise.all([replica(), replica(), replica()]);
    const arrivals: number[] = [];
    const PER_REPLICA = 20;
    const calls = replicas.flatMap((r) =>
      Array.from({ length: PER_REPLICA }, () =>
        r.limiter.send('credit', async () => {
          // Between the grant and the arrival: a slow event loop (a stall that blocks every
          // replica in this process), a timer that fires late, a slow network.
          const roll = random();
          if (roll < 0.1) busyWait(20 + random() * 30);
          else if (roll < 0.4) await sleepMs(random() * 60);
          arrivals.push(now());
          // The provider answers a few milliseconds later.
          await sleepMs(random() * 10);
        }),
      ),
    );
    await Promise.all(calls);
    expect(arrivals).toHaveLength(3 * PER_REPLICA);
    expect(mostInAnyWindow(arrivals, WINDOW_MS)).toBeLessThanOrEqual(RATE);
    // Nor does it starve the budget: N calls per window plus each permit's call latency.
    const seconds = (Math.max(...arrivals) - Math.min(...arrivals) + WINDOW_MS) / 1000;
    expect(arrivals.length / seconds).toBeGreaterThanOrEqual(0.9 * RATE);
  }, 30_000);

  it('uses a permit again only a window after its call was answered, however long the call took', async () => {
    await seed(1);
    const a = await replica(1);
    const b = await replica(1);
    const spans: Array<{ arrived: number; answered: number }> = [];
    const call = (delayMs: number) => async () => {
      const arrived = now();
      await sleepMs(delayMs);
      spans.push({ arrived, answered: now() });
    };
    await Promise.all([a.limiter.send('credit', call(300)), b.limiter.send('credit', call(0))]);
    spans.sort((x, y) => x.arrived - y.arrived);
    expect(spans[1]!.arrived - spans[0]!.answered).toBeGreaterThanOrEqual(WINDOW_MS);
  }, 10_000);

  it('with a transit bound, uses a permit again a window after the start plus the bound, without waiting for a slow answer', async () => {
    await seed(1);
    const a = await replica(1, 20);
    const b = await replica(1, 20);
    let firstStarted = 0;
    const first = a.limiter.send('credit', async () => {
      firstStarted = now();
      await sleepMs(1500); // a slow answer
      return now();
    });
    await waitFor(async () => firstStarted > 0);
    let secondStarted = 0;
    await b.limiter.send('credit', async () => void (secondStarted = now()));
    const firstAnswered = await first;
    // Not before a window after the start plus the bound: the limit holds if requests arrive within
    // it … (less 1 ms: the limiter reads the clock for the start just before the call does)
    expect(secondStarted - firstStarted).toBeGreaterThanOrEqual(20 + WINDOW_MS - 1);
    // … and well before a window after the slow answer.
    expect(secondStarted).toBeLessThan(firstAnswered + WINDOW_MS - 500);
  }, 15_000);

  it('releases the permit when the call throws: free again a window after the failure', async () => {
    await seed(1);
    const a = await replica(1);
    let failedAt = 0;
    await expect(
      a.limiter.send('credit', async () => {
        failedAt = now();
        throw new Error('connection reset');
      }),
    ).rejects.toThrow('connection reset');
    await waitFor(async () => (await permitRows())[0]!.held_by === null);
    let retriedAt = 0;
    await a.limiter.send('credit', async () => {
      retriedAt = now();
    });
    expect(retriedAt - failedAt).toBeGreaterThanOrEqual(WINDOW_MS);
  }, 10_000);

  it('gives a permit whose holder died to another replica only a window after the dead holder’s lease ended', async () => {
    await seed(1);
    const dead = await replica(1);
    const survivor = await replica(1);
    let started = false;
    // The dead replica's call never comes back; its replica stops renewing (cut off) while it hangs.
    void dead.limiter
      .send('credit', () => {
        started = true;
        return new Promise<never>(() => undefined);
      })
      .catch(() => undefined);
    await waitFor(async () => started);
    dead.cutOff();
    const [{ held_until: heldUntil }] = await permitRows();
    expect(heldUntil).not.toBeNull();
    let sentAtDb = 0;
    await survivor.limiter.send('credit', async () => {
      const { rows } = await admin().query<{ now: string }>(
        'SELECT EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS now',
      );
      sentAtDb = Number(rows[0]!.now);
    });
    // The lease the dead holder last wrote may have been renewed once more before the cut: read
    // the table's value after the takeover is impossible (it is overwritten), so bound from below
    // by what was there when it died, and by the lease the survivor saw (held_until + W).
    expect(sentAtDb).toBeGreaterThanOrEqual(Number(heldUntil) + WINDOW_MS);
  }, 20_000);

  it('puts credits first across replicas: a query waits behind every credit of either replica that is waiting, even ones asked after it', async () => {
    await seed(RATE);
    const a = await replica();
    const b = await replica();
    const started: Array<{ kind: string; at: number }> = [];
    const record = (kind: string) => async () => void started.push({ kind, at: now() });
    // A backlog of credits on replica A (2.5 windows of them) ...
    const backlog = Array.from({ length: 25 }, () => a.limiter.send('credit', record('credit')));
    await waitFor(async () => started.length >= RATE);
    // ... then a quota query on replica B, then more credits on B while the query waits.
    const query = b.limiter.send('query', record('query'));
    const later = Array.from({ length: 5 }, () => b.limiter.send('credit', record('credit')));
    await Promise.all([...backlog, ...later, query]);
    expect(started.map((s) => s.kind)).toEqual([...Array(30).fill('credit'), 'query']);
    expect(
      mostInAnyWindow(
        started.map((s) => s.at),
        WINDOW_MS,
      ),
    ).toBeLessThanOrEqual(RATE);
  }, 20_000);

  it('a query that gives up while credits keep the budget busy makes no call and holds no permit', async () => {
    await seed(RATE);
    const a = await replica();
    const b = await replica();
    let credits = 0;
    const backlog = Array.from({ length: 20 }, () => a.limiter.send('credit', async () => void (credits += 1)));
    await waitFor(async () => credits >= RATE);
    let queried = false;
    await expect(
      b.limiter.send('query', async () => void (queried = true), { signal: AbortSignal.timeout(300) }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(queried).toBe(false);
    expect(b.statements()).toBeGreaterThan(0);
    expect((await permitRows()).filter((r) => r.held_by === b.limiter.holderId)).toEqual([]);
    await Promise.all(backlog);
  }, 20_000);

  it('gives a budget never used its permits free at once, and a higher rate its extra permits free at once', async () => {
    await admin().query('DELETE FROM provider_send_budgets');
    const a = await replica(2);
    const asked = now();
    let sentAt = 0;
    await a.limiter.send('credit', async () => void (sentAt = now()));
    expect(sentAt - asked).toBeLessThan(WINDOW_MS / 2);
    expect((await permitRows()).map((r) => r.slot)).toEqual([0, 1]);
    // Both permits of rate 2 are busy for a window now; rate 3 adds one that never carried a call.
    await a.limiter.send('credit', async () => undefined);
    const b = await replica(3);
    const askedAgain = now();
    await b.limiter.send('credit', async () => void (sentAt = now()));
    expect(sentAt - askedAgain).toBeLessThan(WINDOW_MS / 2);
    expect((await permitRows()).map((r) => r.slot)).toEqual([0, 1, 2]);
  }, 10_000);

  it('recreates an emptied budget’s permits free only a window plus a hold’s lease later', async () => {
    // The budget was used (its row is there) and its permits are gone: a crash of the UNLOGGED table.
    await admin().query('INSERT INTO provider_send_budgets (budget) VALUES ($1) ON CONFLICT DO NOTHING', [
      PROVIDER_BUDGET,
    ]);
    const a = await replica(1);
    const asked = now();
    let sentAt = 0;
    await a.limiter.send('credit', async () => void (sentAt = now()));
    expect(sentAt - asked).toBeGreaterThanOrEqual(WINDOW_MS + PgProviderRateLimiter.HOLD_LEASE_MS);
  }, 15_000);

  async function permitRows(): Promise<Array<{ slot: number; held_by: string | null; held_until: string | null }>> {
    const { rows } = await admin().query<{ slot: number; held_by: string | null; held_until: string | null }>(
      `SELECT slot, held_by, EXTRACT(EPOCH FROM held_until) * 1000 AS held_until
         FROM provider_send_permits WHERE budget = $1 ORDER BY slot`,
      [PROVIDER_BUDGET],
    );
    return rows;
  }
});

/** A small deterministic PRNG (mulberry32): the same delays on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Blocks the event loop (every replica in this process), like a GC pause or a burst of work. */
function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* stalled */
  }
}

const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
