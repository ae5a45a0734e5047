import { Client } from 'pg';
import { BssSimulator, createBssSimulator } from '../../../libs/bss-simulator';
import { runMigrations } from '../../../src/database/migrations';
import { DispatchRechargeUseCase } from '../../../src/recharge/application/dispatch-recharge.use-case';
import { ReconcileUseCase } from '../../../src/recharge/application/reconcile.use-case';
import { rolesDatabase } from '../../support/database';
import { newAccountId } from '../../support/dispatcher-harness';
import { bearer, newKey, rechargeBody } from '../../support/e2e-helpers';
import { startTestAppOn, TestApp } from '../../support/test-app';

/**
 * The two database roles exactly as config/database/roles.sql grants them, on the real
 * PostgreSQL: the migrator applies every migration; the service's role does all of its work
 * (migration check at start, recharges, dispatch, ledger, reconciliation) but cannot drop or
 * disable the ledger's append-only trigger, replace its function, drop or truncate the ledger,
 * or create anything. Role names get a per-run suffix: roles are global to the server.
 */
describe('database roles: a migrator with DDL, a service role without', () => {
  const db = rolesDatabase('roles');
  const { migrator, appRole, urlAs } = db;
  let sim: BssSimulator;
  let app: Client;

  beforeAll(async () => {
    await db.create();
    // The migration Job: DATABASE_URL with the migrator role, nothing else.
    expect((await runMigrations(urlAs(migrator))).length).toBeGreaterThan(0);
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 1000 });
    app = new Client({ connectionString: urlAs(appRole) });
    await app.connect();
  });

  afterAll(async () => {
    await app?.end();
    await sim?.close();
    await db.drop();
  });

  it('the migrator owns every table, the service role none', async () => {
    const { rows } = await app.query<{ tableowner: string; n: number }>(
      `SELECT tableowner, count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' GROUP BY tableowner`,
    );
    expect(rows).toEqual([{ tableowner: migrator, n: expect.any(Number) }]);
  });

  it.each([
    ['drop the ledger trigger', 'DROP TRIGGER ledger_entries_no_update_delete ON ledger_entries'],
    ['drop the truncate trigger', 'DROP TRIGGER ledger_entries_no_truncate ON ledger_entries'],
    ['disable the ledger triggers', 'ALTER TABLE ledger_entries DISABLE TRIGGER ALL'],
    [
      'replace the trigger function',
      `CREATE OR REPLACE FUNCTION ledger_entries_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
    ],
    ['drop the trigger function', 'DROP FUNCTION ledger_entries_are_immutable() CASCADE'],
    ['drop the ledger', 'DROP TABLE ledger_entries'],
    ['drop the recharges', 'DROP TABLE recharges CASCADE'],
    ['truncate the ledger', 'TRUNCATE ledger_entries'],
    ['alter a table', 'ALTER TABLE recharges ADD COLUMN x int'],
    ['create a table', 'CREATE TABLE sneaky (i int)'],
    ['skip triggers for the session', "SET session_replication_role = 'replica'"],
  ])('the service role cannot %s', async (_label, statement) => {
    await expect(app.query(statement)).rejects.toMatchObject({ code: '42501' }); // insufficient_privilege
  });

  describe('and does all of its work', () => {
    let t: TestApp;
    beforeAll(async () => {
      // What the service does at start: migrate (nothing pending, so no DDL is needed).
      expect(await runMigrations(urlAs(appRole))).toEqual([]);
      t = await startTestAppOn(urlAs(appRole), {
        PROVIDER: 'simulator',
        ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
        PROVIDER_MAX_RPS: '100',
      });
    });
    afterAll(async () => {
      await t?.close();
    });

    it('creates a client, recharges, dispatches to success, books the ledger, reconciles, reports ready', async () => {
      const client = await t.createClient(['*']);
      const accountId = newAccountId();
      const res = await t.http
        .post('/v1/recharges')
        .set('Authorization', bearer(client.apiKey))
        .set('Idempotency-Key', newKey())
        .send(rechargeBody({ accountId, amount: 4999 }));
      expect(res.status).toBe(202);
      // The dispatcher's own path: claim what is due (a lease), then process the claim.
      const dispatch = t.app.get(DispatchRechargeUseCase);
      const claims = await dispatch.claimDue(10);
      expect(claims.map((c) => c.id)).toEqual([res.body.id]);
      await dispatch.process(claims[0]);
      const got = await t.http.get(`/v1/recharges/${res.body.id}`).set('Authorization', bearer(client.apiKey));
      expect(got.body.state).toBe('SUCCEEDED');
      const ledger = await t.http.get(`/v1/accounts/${accountId}/ledger`).set('Authorization', bearer(client.apiKey));
      expect(ledger.status).toBe(200);
      expect(ledger.body.data.length).toBeGreaterThan(0);
      const cancelMe = await t.http
        .post('/v1/recharges')
        .set('Authorization', bearer(client.apiKey))
        .set('Idempotency-Key', newKey())
        .send(rechargeBody({ accountId }));
      await t.http
        .post(`/v1/recharges/${cancelMe.body.id}/cancel`)
        .set('Authorization', bearer(client.apiKey))
        .expect(200);
      expect((await t.app.get(ReconcileUseCase).runOnce()).outcome).toBe('succeeded');
      const ready = await t.http.get('/health/ready');
      expect(ready.status).toBe(200);
      // The trigger is still there and still refuses a change, whoever asks.
      await expect(app.query('UPDATE ledger_entries SET amount = amount + 1')).rejects.toMatchObject({
        code: '23001',
      });
      await expect(app.query('DELETE FROM ledger_entries')).rejects.toMatchObject({ code: '23001' });
    });
  });
});
