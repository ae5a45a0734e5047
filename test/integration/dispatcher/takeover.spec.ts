import request from 'supertest';
import { BssSimulator, createBssSimulator } from '../../../libs/bss-simulator';
import { countsByState, notFinalCount, Sql, sqlOn } from '../../support/confirmations';
import { createTestDatabase, query } from '../../support/database';
import { authForNewClient, dispatcherEnv, ledgerRowsOf, newAccountId } from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';
import { newKey } from '../../support/e2e-helpers';
import { ServiceProcess, startReplicas } from '../../support/service-process';

const RECHARGES = 30;

/**
 * A replica dies (SIGKILL) while its calls are in flight. It stops renewing its leases, so the
 * other replica takes its claimed recharges over once DISPATCH_LEASE_MS lapses and re-sends the
 * same OutBizId: every recharge ends SUCCEEDED, credited once at the provider and in the ledger.
 */
describe('takeover after a replica is killed mid-call (issue 16)', () => {
  let sim: BssSimulator;
  let replicas: ServiceProcess[] = [];
  let databaseUrl: string;
  let sql: Sql;
  let auth: string;

  beforeAll(async () => {
    // Every answer takes a while, so the killed replica has calls in flight.
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 100, latencyMs: 1_000 });
    databaseUrl = await createTestDatabase();
    sql = sqlOn(databaseUrl);
    auth = await authForNewClient(databaseUrl);
    const env = {
      ...dispatcherEnv(sim, {
        PROVIDER_MAX_RPS: '10',
        PROVIDER_TIMEOUT_MS: '5000',
        RECONCILE_AFTER_MS: '60000',
        DISPATCH_LEASE_MS: '2000',
      }),
      DATABASE_URL: databaseUrl,
      // The transitions each replica logs say which replica sent and which concluded a recharge.
      LOG_LEVEL: 'info',
    };
    replicas = await startReplicas(env);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await sim?.close();
    await sql?.close();
  });

  /** Recharges this replica's log shows it moved to `state`. */
  const movedBy = (replica: ServiceProcess, state: string): Set<string> =>
    new Set([...replica.output().matchAll(new RegExp(`recharge (rch_\\w+) \\w+ → ${state}`, 'g'))].map((m) => m[1]!));

  it("the survivor resumes the dead replica's claimed recharges; each is credited once", async () => {
    const [doomed, survivor] = replicas as [ServiceProcess, ServiceProcess];
    const accountId = newAccountId();
    const ids: string[] = [];
    for (let i = 0; i < RECHARGES; i++) {
      const res = await request(survivor.url)
        .post('/v1/recharges')
        .set('Authorization', auth)
        .set('Idempotency-Key', newKey())
        .send({ accountId, currency: 'CNY', amount: 100 + i });
      expect(res.status).toBe(202);
      ids.push(res.body.id as string);
    }

    // Kill the doomed replica while it holds a recharge it has sent and not yet concluded.
    const inFlight = await waitFor(
      async () => {
        const sent = [...movedBy(doomed, 'SUBMITTED')];
        if (sent.length === 0) return null;
        const open = await query<{ id: string }>(
          databaseUrl,
          `SELECT id FROM recharges WHERE id = ANY($1) AND state = 'SUBMITTED' AND lease_until > now()`,
          [sent],
        );
        return open.length > 0 ? open.map((r) => r.id) : null;
      },
      60_000,
      'the doomed replica to have a call in flight',
      20,
    );
    process.kill(doomed.pid, 'SIGKILL');

    await waitFor(async () => (await notFinalCount(sql)) === 0, 90_000, 'every recharge to be final', 100);

    expect(await countsByState(sql)).toEqual({ SUCCEEDED: RECHARGES });
    // The recharges the dead replica had in flight were concluded by the survivor.
    const concludedBySurvivor = movedBy(survivor, 'SUCCEEDED');
    for (const id of inFlight) expect(concludedBySurvivor.has(id)).toBe(true);
    // Re-sent with the same OutBizId: applied once at the provider, one credit in our ledger.
    const credits = sim.credits();
    expect(new Set(credits.map((c) => c.outBizId))).toEqual(new Set(ids));
    expect(credits.filter((c) => c.timesApplied !== 1)).toEqual([]);
    for (const id of inFlight) {
      const ledger = await ledgerRowsOf(databaseUrl, id);
      expect(ledger.filter((e) => e.direction === 'credit')).toHaveLength(1);
    }
  }, 180_000);
});
