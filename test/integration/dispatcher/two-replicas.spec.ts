import request from 'supertest';
import { BssSimulator, createBssSimulator } from '../../../libs/bss-simulator';
import { countsByState, notFinalCount, Sql, sqlOn } from '../../support/confirmations';
import { createTestDatabase, query } from '../../support/database';
import { authForNewClient, dispatcherEnv, newAccountId } from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';
import { newKey } from '../../support/e2e-helpers';
import { ServiceProcess, startReplicas } from '../../support/service-process';

const RECHARGES = 200;
const PROVIDER_MAX_RPS = 20;

/**
 * Two replicas of the service, each its own OS process running src/main.ts (own event loop, pool,
 * LISTEN connection, dispatcher, circuit breaker), on one database: claims are leases in PostgreSQL
 * and the provider rate limit is a row there, so together they must send every recharge exactly
 * once and stay under the rate. The simulator runs in this (otherwise idle) process, so the
 * arrival times it measures are not skewed by the replicas' own work.
 */
describe('two service processes on one database (issue 3)', () => {
  let sim: BssSimulator;
  let replicas: ServiceProcess[] = [];
  let databaseUrl: string;
  let sql: Sql;
  let auth: string;

  beforeAll(async () => {
    // The simulator's own flow control well above ours: a throttled call would only hide a burst.
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 2 * PROVIDER_MAX_RPS });
    databaseUrl = await createTestDatabase();
    sql = sqlOn(databaseUrl);
    auth = await authForNewClient(databaseUrl);
    const env = {
      ...dispatcherEnv(sim, {
        PROVIDER_MAX_RPS: String(PROVIDER_MAX_RPS),
        PROVIDER_TIMEOUT_MS: '5000',
        RECONCILE_AFTER_MS: '2000',
      }),
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'warn',
    };
    replicas = await startReplicas(env);
  }, 90_000);

  afterAll(async () => {
    const codes = await Promise.all(replicas.map((r) => r.stop()));
    await sim?.close();
    await sql?.close();
    // A clean SIGTERM shutdown of both replicas is part of the contract too.
    expect(codes).toEqual(replicas.map(() => 0));
  });

  it(`credits ${RECHARGES} recharges exactly once, ledger equal to the provider per account, at most ${PROVIDER_MAX_RPS} calls/s`, async () => {
    // One currency per provider ledger (BSS refuses another currency on an existing OwnerId).
    const accounts = [
      { accountId: newAccountId(), currency: 'CNY' },
      { accountId: newAccountId(), currency: 'CNY' },
      { accountId: newAccountId(), currency: 'CNY' },
      { accountId: newAccountId(), currency: 'USD' },
      { accountId: newAccountId(), currency: 'JPY' },
    ];

    const started = Date.now();
    const ids: string[] = [];
    // Created through both replicas, 20 requests in flight at a time.
    for (let batch = 0; batch < RECHARGES; batch += 20) {
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, j) => {
          const i = batch + j;
          const { accountId, currency } = accounts[i % accounts.length]!;
          return request(replicas[i % 2]!.url)
            .post('/v1/recharges')
            .set('Authorization', auth)
            .set('Idempotency-Key', newKey())
            .send({ accountId, currency, amount: 100 + i });
        }),
      );
      for (const res of responses) {
        expect(res.status).toBe(202);
        ids.push(res.body.id as string);
      }
    }
    const createdAfterMs = Date.now() - started;

    await waitFor(async () => (await notFinalCount(sql)) === 0, 45_000, 'every recharge to be final', 100);
    const drainMs = Date.now() - started;
    const stats = sim.stats();
    const credits = sim.credits();

    // Every recharge SUCCEEDED, and exactly once (one SUCCEEDED event each, whichever replica sent it).
    expect(await countsByState(sql)).toEqual({ SUCCEEDED: RECHARGES });
    const succeededEvents = await query<{ n: string; distinct_ids: string }>(
      databaseUrl,
      `SELECT count(*) AS n, count(DISTINCT recharge_id) AS distinct_ids FROM recharge_events WHERE to_state = 'SUCCEEDED'`,
    );
    expect(succeededEvents).toEqual([{ n: String(RECHARGES), distinct_ids: String(RECHARGES) }]);

    // The provider: exactly one applied credit per recharge, each one of ours, none applied twice.
    expect(credits).toHaveLength(RECHARGES);
    expect(new Set(credits.map((c) => c.outBizId))).toEqual(new Set(ids));
    expect(credits.filter((c) => c.timesApplied !== 1)).toEqual([]);
    // No throttling, no replays: one call per recharge, none sent twice by the two replicas.
    expect(stats.requests.ChangeResellerConsumeAmount).toBe(RECHARGES);
    expect(stats.outcomesByAction.ChangeResellerConsumeAmount).toEqual({ success: RECHARGES });

    // Both dispatchers took work (each replica's own /metrics), and between them sent each recharge once.
    const perReplica = await Promise.all(replicas.map((r) => providerCalls(r.url)));
    expect(perReplica.reduce((a, b) => a + b, 0)).toBe(RECHARGES);
    expect(Math.min(...perReplica)).toBeGreaterThan(0);

    // Per account: our cached balance, the sum of its ledger entries and the provider's applied credits agree.
    for (const { accountId, currency } of accounts) {
      const provider = credits
        .filter((c) => c.ownerId === accountId)
        .reduce((sum, c) => sum + BigInt(c.amountMinor) * BigInt(c.timesApplied), 0n);
      const [ledger] = await query<{ sum: string | null }>(
        databaseUrl,
        `SELECT sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END)::text AS sum FROM ledger_entries WHERE account_id = $1 AND currency = $2`,
        [accountId, currency],
      );
      const balances = await query<{ currency: string; amount: string }>(
        databaseUrl,
        'SELECT currency, amount::text AS amount FROM balances WHERE ledger_account = $1',
        [`customer:${accountId}`],
      );
      expect(provider).toBeGreaterThan(0n);
      expect(BigInt(ledger.sum ?? '0')).toBe(provider);
      expect(balances).toEqual([{ currency, amount: provider.toString() }]);
    }
    // Double entry: every currency's journal sums to zero, and the clearing account mirrors the customers.
    const perCurrency = await query<{ currency: string; signed: string; rows: string }>(
      databaseUrl,
      `SELECT currency, sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END)::text AS signed, count(*)::text AS rows
         FROM ledger_entries GROUP BY currency ORDER BY currency`,
    );
    expect(perCurrency).toEqual([
      { currency: 'CNY', signed: '0', rows: String(2 * 120) },
      { currency: 'JPY', signed: '0', rows: String(2 * 40) },
      { currency: 'USD', signed: '0', rows: String(2 * 40) },
    ]);
    const [balanceSum] = await query<{ nonzero: string }>(
      databaseUrl,
      `SELECT count(*)::text AS nonzero FROM (SELECT currency, sum(amount) AS s FROM balances GROUP BY currency) t WHERE s <> 0`,
    );
    expect(balanceSum.nonzero).toBe('0');

    console.log(
      [
        `two replicas, ${RECHARGES} recharges, PROVIDER_MAX_RPS=${PROVIDER_MAX_RPS}:`,
        `  created in ${createdAfterMs} ms, all final after ${drainMs} ms (${((RECHARGES * 1000) / drainMs).toFixed(1)} recharges/s)`,
        `  provider calls: ${stats.requests.ChangeResellerConsumeAmount} (replica A ${perReplica[0]}, replica B ${perReplica[1]}), applied credits: ${credits.length}, applied twice: ${credits.filter((c) => c.timesApplied > 1).length}`,
        `  max calls in any sliding 1 s window: ${stats.maxRequestsPerSecond} (limit ${PROVIDER_MAX_RPS}); busiest calendar second: ${stats.maxRequestsPerCalendarSecond}`,
      ].join('\n'),
    );
    expect(stats.maxRequestsPerSecond).toBeLessThanOrEqual(PROVIDER_MAX_RPS);
    // Nor does the limiter starve the work: 200 at 20/s take about 10 s (20 at once, then each
    // permit again a second after its call's answer); this bound is generous for a loaded machine.
    expect(drainMs).toBeLessThan(30_000);
  }, 60_000);
});

/** ChangeResellerConsumeAmount calls this replica made, from its Prometheus counter. */
async function providerCalls(url: string): Promise<number> {
  const res = await request(url).get('/metrics');
  expect(res.status).toBe(200);
  const pattern = /^provider_requests_total\{([^}]*)\} (\d+)$/gm;
  let total = 0;
  for (const [, labels, value] of res.text.matchAll(pattern)) {
    if (labels!.includes('action="ChangeResellerConsumeAmount"')) total += Number(value);
  }
  return total;
}
