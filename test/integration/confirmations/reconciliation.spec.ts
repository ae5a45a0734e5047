import { BssSimulator, createBssSimulator } from '../../../libs/bss-simulator';
import { newId } from '../../../libs/shared/ids';
import { ReconciliationReport, ReconcileUseCase } from '../../../src/recharge/application/reconcile.use-case';
import { Sql, sqlOn } from '../../support/confirmations';
import { createTestDatabase } from '../../support/database';
import {
  creditCalls,
  ledgerRowsOf,
  newAccountId,
  postRecharge,
  signed,
  startTestAppOn,
} from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';
import { TestApp } from '../../support/test-app';

/**
 * ReconcileUseCase.runOnce() on a real database against the BSS simulator over HTTP: two
 * application instances (replicas) reconciling the same database at once must settle every due
 * recharge exactly once; overdue ones expire; every pass leaves a reconciliation_runs row.
 */
describe('reconciliation (issue 4)', () => {
  const N = 30;
  let sim: BssSimulator;
  let databaseUrl: string;
  let sql: Sql;
  let a: TestApp;
  let b: TestApp;
  let auth: string;
  /** Every pass this file ran, in order, to compare with reconciliation_runs. */
  const reports: ReconciliationReport[] = [];

  beforeAll(async () => {
    // Provider latency makes each re-drive chunk take a while, so the two replicas really overlap.
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 1000, latencyMs: 100 });
    databaseUrl = await createTestDatabase();
    sql = sqlOn(databaseUrl);
    const env = {
      PROVIDER: 'simulator',
      ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
      PROVIDER_MAX_RPS: '500',
      PROVIDER_TIMEOUT_MS: '3000',
    };
    [a, b] = await Promise.all([startTestAppOn(databaseUrl, env), startTestAppOn(databaseUrl, env)]);
    auth = `Bearer ${(await a.createClient(['*'])).apiKey}`;
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await sql?.close();
    await sim?.close();
  });

  const runOnce = async (app: TestApp) => {
    const report = await app.app.get(ReconcileUseCase).runOnce();
    reports.push(report);
    return report;
  };

  const createRecharge = (accountId: string, amount: number, currency = 'CNY'): Promise<string> =>
    postRecharge(a, auth, { accountId, amount, currency });

  const stateOf = async (id: string) =>
    (
      await sql<{ state: string; failure_code: string | null }>(
        'SELECT state, failure_code FROM recharges WHERE id = $1',
        [id],
      )
    )[0];

  it(`two replicas reconcile ${N} due PENDING_CONFIRMATION recharges concurrently: each applied and ledgered exactly once`, async () => {
    const accounts = [newAccountId(), newAccountId(), newAccountId()];
    const planned = Array.from({ length: N }, (_, i) => ({
      accountId: accounts[i % accounts.length]!,
      amount: 100 + i,
    }));
    const ids = await Promise.all(planned.map((p) => createRecharge(p.accountId, p.amount)));
    // The state a crash or an unknown provider outcome leaves: sent once, outcome unknown, due now.
    await sql(
      `UPDATE recharges SET state = 'PENDING_CONFIRMATION', submitted_at = now() - interval '1 minute', attempts = 1,
         next_attempt_at = now() - interval '1 second' WHERE id = ANY($1)`,
      [ids],
    );

    const [ra, rb] = await Promise.all([runOnce(a), runOnce(b)]);

    console.log(`two replicas: redriven ${ra.redriven} + ${rb.redriven} = ${ra.redriven + rb.redriven} of ${N}`);
    expect(ra).toMatchObject({ outcome: 'succeeded', expired: 0, error: null });
    expect(rb).toMatchObject({ outcome: 'succeeded', expired: 0, error: null });
    expect(ra.redriven + rb.redriven).toBe(N);
    // Both took part (each chunk of 8 takes ≥ 100 ms at the provider, so neither can take all of them).
    expect(ra.redriven).toBeGreaterThan(0);
    expect(rb.redriven).toBeGreaterThan(0);

    const states = await sql<{ state: string; n: string }>(
      'SELECT state, count(*) AS n FROM recharges WHERE id = ANY($1) GROUP BY state',
      [ids],
    );
    expect(states).toEqual([{ state: 'SUCCEEDED', n: String(N) }]);
    // Sent once each: one call per recharge, one credit per OutBizId, applied once.
    expect(creditCalls(sim)).toBe(N);
    const credits = sim.credits();
    expect(credits).toHaveLength(N);
    expect(credits.map((c) => c.outBizId).sort()).toEqual([...ids].sort());
    for (const c of credits) expect(c.timesApplied).toBe(1);
    // Our books: two balanced lines per recharge, and per account the sum the provider applied.
    for (const [i, id] of ids.entries()) {
      const rows = await ledgerRowsOf(databaseUrl, id);
      expect(rows.map((r) => [r.direction, r.amount])).toEqual([
        ['debit', String(planned[i]!.amount)],
        ['credit', String(planned[i]!.amount)],
      ]);
      expect(rows.reduce((s, r) => s + signed(r), 0n)).toBe(0n);
    }
    for (const accountId of accounts) {
      const atProvider = credits.filter((c) => c.ownerId === accountId).reduce((s, c) => s + BigInt(c.amountMinor), 0n);
      const [ours] = await sql<{ amount: string }>(
        `SELECT amount::text AS amount FROM balances WHERE ledger_account = $1 AND currency = 'CNY'`,
        [`customer:${accountId}`],
      );
      expect(BigInt(ours!.amount)).toBe(atProvider);
    }
    const events = await sql<{ n: string }>(
      `SELECT count(*) AS n FROM recharge_events WHERE recharge_id = ANY($1) AND from_state = 'PENDING_CONFIRMATION' AND to_state = 'SUCCEEDED' AND source = 'reconciliation'`,
      [ids],
    );
    expect(events[0]!.n).toBe(String(N));

    // Nothing left: a further pass on either replica re-drives nothing.
    const [again1, again2] = await Promise.all([runOnce(a), runOnce(b)]);
    expect(again1.redriven + again2.redriven).toBe(0);
    expect(creditCalls(sim)).toBe(N);
  });

  it('a SUBMITTED recharge past CONFIRMATION_WINDOW_MS → FAILED with failure.code TIMEOUT; the run row says expired = 1', async () => {
    const id = await createRecharge(newAccountId(), 777);
    const within = await createRecharge(newAccountId(), 778);
    // Default window 30 min: one sent 31 min ago, one 29 min ago; neither is due for a re-send.
    await sql(
      `UPDATE recharges SET state = 'SUBMITTED', attempts = 1, next_attempt_at = now() + interval '1 hour',
         submitted_at = now() - CASE WHEN id = $1 THEN interval '31 minutes' ELSE interval '29 minutes' END WHERE id IN ($1, $2)`,
      [id, within],
    );
    const callsBefore = creditCalls(sim);

    const report = await runOnce(a);

    expect(report).toMatchObject({ outcome: 'succeeded', expired: 1, redriven: 0 });
    expect(await stateOf(id)).toEqual({ state: 'FAILED', failure_code: 'TIMEOUT' });
    expect(await stateOf(within)).toEqual({ state: 'SUBMITTED', failure_code: null });
    const get = await a.http.get(`/v1/recharges/${id}`).set('Authorization', auth);
    expect(get.body).toMatchObject({
      state: 'FAILED',
      status: 'failed',
      failure: { code: 'TIMEOUT', providerCode: null },
    });
    const events = await a.http.get(`/v1/recharges/${id}/events`).set('Authorization', auth);
    expect(events.body.data.at(-1)).toMatchObject({ from: 'SUBMITTED', to: 'FAILED', source: 'reconciliation' });
    const [row] = await sql<{ expired: number; outcome: string; finished_at: Date | null }>(
      'SELECT expired, outcome, finished_at FROM reconciliation_runs WHERE id = $1',
      [report.runId],
    );
    expect(row).toEqual({ expired: 1, outcome: 'succeeded', finished_at: expect.any(Date) });
    expect(await ledgerRowsOf(databaseUrl, id)).toEqual([]);
    expect(creditCalls(sim)).toBe(callsBefore);
    await sql(`UPDATE recharges SET next_attempt_at = NULL, state = 'CANCELED', completed_at = now() WHERE id = $1`, [
      within,
    ]);
  });

  it('a stored notification never applied (older than 10 s) is applied by the pass; a fresh one is left to its handler', async () => {
    const accountId = newAccountId();
    const [stale, fresh] = [await createRecharge(accountId, 4999), await createRecharge(accountId, 5000)];
    await sql(
      `UPDATE recharges SET state = 'SUBMITTED', submitted_at = now(), attempts = 1, next_attempt_at = now() + interval '1 hour' WHERE id IN ($1, $2)`,
      [stale, fresh],
    );
    // What a webhook handler that crashed between storing and applying leaves behind.
    const insert = (webhookId: string, id: string, amount: string, age: string) =>
      sql(
        `INSERT INTO provider_notifications (webhook_id, event_id, type, out_biz_id, owner_id, amount, currency, transaction_number, failure_code, payload, received_at)
         VALUES ($1, $1, 'bss:Recharge:Succeeded', $2, $3, $4, 'CNY', 'tx-' || $1, NULL, '{}'::jsonb, now() - $5::interval)`,
        [webhookId, id, accountId, amount, age],
      );
    const staleHook = newId('msg');
    const freshHook = newId('msg');
    await insert(staleHook, stale, '49.99', '11 seconds');
    await insert(freshHook, fresh, '50.00', '1 second');

    const report = await runOnce(b);

    expect(report).toMatchObject({
      outcome: 'succeeded',
      notificationsApplied: 1,
      orphansMatched: 0,
      redriven: 0,
      expired: 0,
    });
    expect(await stateOf(stale)).toEqual({ state: 'SUCCEEDED', failure_code: null });
    expect(await stateOf(fresh)).toEqual({ state: 'SUBMITTED', failure_code: null });
    const rows = await sql<{ webhook_id: string; result: string | null }>(
      'SELECT webhook_id, result FROM provider_notifications WHERE webhook_id IN ($1, $2) ORDER BY received_at',
      [staleHook, freshHook],
    );
    expect(rows).toEqual([
      { webhook_id: staleHook, result: 'applied' },
      { webhook_id: freshHook, result: null },
    ]);
    expect((await ledgerRowsOf(databaseUrl, stale)).map((r) => r.amount)).toEqual(['4999', '4999']);
    await sql(`UPDATE recharges SET next_attempt_at = NULL, state = 'CANCELED', completed_at = now() WHERE id = $1`, [
      fresh,
    ]);
    await sql(`UPDATE provider_notifications SET processed_at = now(), result = 'ignored' WHERE webhook_id = $1`, [
      freshHook,
    ]);
  });

  it('item 2 (reconciliation): a never-applied Succeeded notification for a CANCELED recharge → stays CANCELED, discrepancy success_after_cancel, counted in the run', async () => {
    const accountId = newAccountId();
    const id = await createRecharge(accountId, 4999);
    await a.http.post(`/v1/recharges/${id}/cancel`).set('Authorization', auth).expect(200);
    const webhookId = newId('msg');
    await sql(
      `INSERT INTO provider_notifications (webhook_id, event_id, type, out_biz_id, owner_id, amount, currency, transaction_number, failure_code, payload, received_at)
       VALUES ($1, $1, 'bss:Recharge:Succeeded', $2, $3, '49.99', 'CNY', 'tx-late', NULL, '{}'::jsonb, now() - interval '11 seconds')`,
      [webhookId, id, accountId],
    );

    const report = await runOnce(a);

    expect(report).toMatchObject({ outcome: 'succeeded', discrepancies: 1 });
    expect(await stateOf(id)).toEqual({ state: 'CANCELED', failure_code: 'CANCELED' });
    expect(await ledgerRowsOf(databaseUrl, id)).toEqual([]);
    expect(
      await sql(
        `SELECT kind, evidence->>'webhookId' AS webhook_id, acknowledged_at FROM discrepancies WHERE recharge_id = $1`,
        [id],
      ),
    ).toEqual([{ kind: 'success_after_cancel', webhook_id: webhookId, acknowledged_at: null }]);
    // A second pass finds nothing new: the notification is settled and the discrepancy kept once.
    expect(await runOnce(b)).toMatchObject({ discrepancies: 0 });
    expect(await sql('SELECT id FROM discrepancies WHERE recharge_id = $1', [id])).toHaveLength(1);
  });

  it('many unmatched orphans do not starve never-applied notifications, and every orphan keeps being retried', async () => {
    const accountId = newAccountId();
    const id = await createRecharge(accountId, 4999);
    await sql(
      `UPDATE recharges SET state = 'SUBMITTED', submitted_at = now(), attempts = 1, next_attempt_at = now() + interval '1 hour' WHERE id = $1`,
      [id],
    );
    // 600 orphans (more than one pass's batch of 500), all older than the never-applied one.
    await sql(
      `INSERT INTO provider_notifications (webhook_id, event_id, type, out_biz_id, owner_id, amount, currency, payload, received_at, processed_at, result)
       SELECT 'orphan-' || g, 'orphan-' || g, 'bss:Recharge:Succeeded', 'rch_unknown_' || g, $1, '1.00', 'CNY', '{}'::jsonb,
              now() - interval '1 hour' + g * interval '1 millisecond', now() - interval '1 hour', 'orphan'
       FROM generate_series(1, 600) AS g`,
      [accountId],
    );
    const hook = newId('msg');
    await sql(
      `INSERT INTO provider_notifications (webhook_id, event_id, type, out_biz_id, owner_id, amount, currency, payload, received_at)
       VALUES ($1, $1, 'bss:Recharge:Succeeded', $2, $3, '49.99', 'CNY', '{}'::jsonb, now() - interval '30 seconds')`,
      [hook, id, accountId],
    );

    const first = await runOnce(a);

    expect(first).toMatchObject({ outcome: 'succeeded', notificationsApplied: 1 });
    expect(await stateOf(id)).toEqual({ state: 'SUCCEEDED', failure_code: null });
    // Two passes look at every orphan at least once (round robin by last attempt).
    const second = await runOnce(a);
    expect(first.orphansOpen + second.orphansOpen).toBeGreaterThanOrEqual(600);
    const [untouched] = await sql<{ n: string }>(
      `SELECT count(*) AS n FROM provider_notifications WHERE result = 'orphan' AND processed_at < now() - interval '30 minutes'`,
    );
    expect(untouched!.n).toBe('0');
    await sql(`UPDATE provider_notifications SET result = 'ignored' WHERE result = 'orphan'`);
  });

  it('every pass is recorded: reconciliation_runs rows with outcome succeeded, finished_at set, the counts reported', async () => {
    expect(reports.length).toBeGreaterThanOrEqual(6);
    const rows = await sql<{
      id: string;
      outcome: string;
      started_at: Date;
      finished_at: Date | null;
      redriven: number;
      expired: number;
      notifications_applied: number;
      orphans_matched: number;
      orphans_open: number;
      discrepancies: number;
      error: string | null;
    }>('SELECT * FROM reconciliation_runs ORDER BY started_at');
    expect(rows).toHaveLength(reports.length);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const report of reports) {
      const row = byId.get(report.runId)!;
      expect(row).toEqual({
        id: report.runId,
        outcome: 'succeeded',
        started_at: expect.any(Date),
        finished_at: expect.any(Date),
        redriven: report.redriven,
        expired: report.expired,
        notifications_applied: report.notificationsApplied,
        orphans_matched: report.orphansMatched,
        orphans_open: report.orphansOpen,
        discrepancies: report.discrepancies,
        error: null,
      });
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
    }
    const metrics = (await a.http.get('/metrics')).text;
    expect(metrics).toMatch(/^reconciliation_runs_total\{outcome="succeeded"\} [1-9]\d*$/m);
  });

  it('with workers enabled the scheduler runs a pass every RECONCILE_INTERVAL_MS', async () => {
    const before = (await sql('SELECT id FROM reconciliation_runs')).length;
    const scheduled = await startTestAppOn(databaseUrl, {
      DISPATCHER_ENABLED: 'true',
      RECONCILE_INTERVAL_MS: '200',
      PROVIDER: 'simulator',
      ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      SHUTDOWN_GRACE_MS: '1000',
    });
    try {
      await waitFor(
        async () =>
          (await sql(`SELECT id FROM reconciliation_runs WHERE outcome = 'succeeded' AND finished_at IS NOT NULL`))
            .length >=
          before + 3,
        10_000,
        'three scheduled passes',
      );
    } finally {
      await scheduled.close();
    }
    const runs = await sql<{ outcome: string }>(`SELECT outcome FROM reconciliation_runs WHERE outcome <> 'succeeded'`);
    // A pass cut short by shutdown may still be 'running'; none failed.
    expect(runs.filter((r) => r.outcome === 'failed')).toEqual([]);
  });
});
