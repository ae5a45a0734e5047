import { BssSimulator, createBssSimulator } from '../../libs/bss-simulator';
import { query } from '../support/database';
import { bearer, PROBLEM_JSON } from '../support/e2e-helpers';
import { sleep } from '../support/wait';
import { createOperator, seedDiscrepancy, seedRecharge } from '../support/admin-fixtures';
import { metricValue } from '../support/confirmations';
import { startTestApp, TestApp } from '../support/test-app';

type Res = { status: number; headers: Record<string, string>; body: any; text: string };

function expectProblem(res: Res, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
  expect(res.body).toMatchObject({ status, code, correlationId: res.headers['x-request-id'] });
}

const ACCOUNT = '1234567890123456';
const OTHER_ACCOUNT = '2222';

describe('admin API /admin/v1 (operators, audit)', () => {
  let t: TestApp;
  let sim: BssSimulator;
  let client: { clientId: string; apiKey: string };
  let operator: { operatorId: string; token: string; name: string };
  let viewer: { operatorId: string; token: string; name: string };
  const op = () => bearer(operator.token);
  const view = () => bearer(viewer.token);

  const actionCount = async (where = 'true', params: unknown[] = []) =>
    (
      await query<{ n: number }>(
        t.databaseUrl,
        `SELECT count(*)::int AS n FROM operator_actions WHERE ${where}`,
        params,
      )
    )[0].n;

  /** The recharge's callbacks in the order they were queued, with the failure code each carries. */
  const callbacksOf = (rechargeId: string) =>
    query<{
      id: string;
      event_type: string;
      status: string;
      failure: string | null;
      due: boolean | null;
      superseded_by: string | null;
    }>(
      t.databaseUrl,
      `SELECT id, event_type, status, payload #>> '{data,failure,code}' AS failure,
         next_attempt_at <= now() AS due, superseded_by
       FROM callback_deliveries WHERE recharge_id = $1 ORDER BY id`,
      [rechargeId],
    );

  /**
   * A FAILED/TIMEOUT recharge with a callback, resolved not_applied by the operator; its TIMEOUT
   * callback was delivered before that, or still waited.
   */
  async function resolvedNotApplied(timeoutCallback: 'delivered' | 'waiting'): Promise<string> {
    const id = await seedRecharge(t, client.apiKey, 'TIMEOUT', {
      callbackUrl: 'https://hooks.example.com/recharges',
    });
    if (timeoutCallback === 'delivered')
      await query(
        t.databaseUrl,
        `UPDATE callback_deliveries SET status = 'delivered', delivered_at = now(), next_attempt_at = NULL WHERE recharge_id = $1`,
        [id],
      );
    await t.http
      .post(`/admin/v1/recharges/${id}/resolve`)
      .set('Authorization', op())
      .send({ outcome: 'not_applied', reason: 'no such OutBizId at the provider' })
      .expect(200);
    return id;
  }

  beforeAll(async () => {
    sim = await createBssSimulator({ port: 0 });
    sim.setAccount(ACCOUNT, { quota: '1000.00', currency: 'CNY' });
    t = await startTestApp({ PROVIDER: 'simulator', ALIBABA_CLOUD_BSS_ENDPOINT: sim.url, PROVIDER_TIMEOUT_MS: '2000' });
    client = await t.createClient(['*']);
    operator = await createOperator(t.app, 'operator', 'olivia');
    viewer = await createOperator(t.app, 'viewer', 'victor');
  });

  afterAll(async () => {
    await t?.close();
    await sim?.close();
  });

  describe('authentication: operators and clients are separate in both directions', () => {
    it('no token, an unknown op_ token and a client API key on /admin → 401', async () => {
      for (const header of [undefined, 'Bearer op_doesNotExist000000000000000000000000000', bearer(client.apiKey)]) {
        const req = t.http.get('/admin/v1/summary');
        if (header) req.set('Authorization', header);
        expectProblem(await req, 401, 'UNAUTHENTICATED');
      }
    });

    it('an operator token on /v1 → 401', async () => {
      expectProblem(await t.http.get('/v1/recharges').set('Authorization', op()), 401, 'UNAUTHENTICATED');
    });

    it('a revoked operator is refused within about a second', async () => {
      const gone = await createOperator(t.app, 'operator');
      expect((await t.http.get('/admin/v1/me').set('Authorization', bearer(gone.token))).status).toBe(200);
      const { ManageOperatorsUseCase } = await import('../../src/operators/application/manage-operators.use-case');
      await t.app.get(ManageOperatorsUseCase).revoke(gone.operatorId);
      await sleep(1100);
      expectProblem(await t.http.get('/admin/v1/me').set('Authorization', bearer(gone.token)), 401, 'UNAUTHENTICATED');
    });

    it('tokens are stored hashed, never in clear', async () => {
      const rows = await query<{ token_hash: string }>(t.databaseUrl, 'SELECT token_hash FROM operators');
      expect(rows.length).toBeGreaterThanOrEqual(2);
      for (const r of rows) expect(r.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(rows)).not.toContain(operator.token);
    });

    it('GET /admin/v1/me tells the role', async () => {
      const res = await t.http.get('/admin/v1/me').set('Authorization', view());
      expect(res.body).toEqual({ operatorId: viewer.operatorId, name: 'victor', role: 'viewer', mayAct: false });
    });
  });

  describe('a viewer reads everything and acts on nothing (403, nothing changes)', () => {
    it.each([
      ['/resolve', { outcome: 'succeeded', reason: 'checked at the provider' }],
      ['/redrive', { reason: 'checked at the provider' }],
      ['/callbacks/redeliver', { reason: 'checked at the provider' }],
    ])('POST …%s → 403', async (path, body) => {
      const id = await seedRecharge(t, client.apiKey, 'TIMEOUT');
      expect((await t.http.get(`/admin/v1/recharges/${id}`).set('Authorization', view())).status).toBe(200);
      const before = await actionCount();
      const res = await t.http.post(`/admin/v1/recharges/${id}${path}`).set('Authorization', view()).send(body);
      expectProblem(res, 403, 'UNAUTHORIZED');
      expect(await actionCount()).toBe(before);
      const after = await t.http.get(`/admin/v1/recharges/${id}`).set('Authorization', view());
      expect(after.body.state).toBe('FAILED');
    });
  });

  describe('resolve', () => {
    it('FAILED/TIMEOUT → succeeded: SUCCEEDED, ledger credited once, event names the operator, action audited and counted', async () => {
      const id = await seedRecharge(t, client.apiKey, 'TIMEOUT', { amount: 1234 });
      const metricsBefore = (await t.http.get('/metrics')).text;
      const res = await t.http
        .post(`/admin/v1/recharges/${id}/resolve`)
        .set('Authorization', op())
        .send({ outcome: 'succeeded', reason: 'credit visible in the BSS console', providerReference: 'TX-777' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id, state: 'SUCCEEDED', status: 'succeeded', providerReference: 'TX-777' });

      const ledger = await query<{ direction: string; amount: string }>(
        t.databaseUrl,
        'SELECT direction, amount::text AS amount FROM ledger_entries WHERE recharge_id = $1 ORDER BY direction',
        [id],
      );
      expect(ledger).toEqual([
        { direction: 'credit', amount: '1234' },
        { direction: 'debit', amount: '1234' },
      ]);
      const detail = (await t.http.get(`/admin/v1/recharges/${id}`).set('Authorization', view())).body;
      expect(detail.events.at(-1)).toMatchObject({
        from: 'FAILED',
        to: 'SUCCEEDED',
        source: 'operator',
        actor: operator.operatorId,
        correction: true,
      });
      expect(detail.operatorActions).toEqual([
        expect.objectContaining({
          operatorId: operator.operatorId,
          operatorName: 'olivia',
          action: 'resolve',
          targetId: id,
          reason: 'credit visible in the BSS console',
          detail: { outcome: 'succeeded', providerReference: 'TX-777' },
        }),
      ]);
      expect(detail.ledger).toHaveLength(2);
      // The public event trail shows the operator source too.
      const events = await t.http.get(`/v1/recharges/${id}/events`).set('Authorization', bearer(client.apiKey));
      expect(events.body.data.at(-1)).toMatchObject({ from: 'FAILED', to: 'SUCCEEDED', source: 'operator' });
      const metricsAfter = (await t.http.get('/metrics')).text;
      expect(metricValue(metricsAfter, 'operator_actions_total', { action: 'resolve' })).toBe(
        metricValue(metricsBefore, 'operator_actions_total', { action: 'resolve' }) + 1,
      );
      expect(metricValue(metricsAfter, 'recharge_corrections_total')).toBe(
        metricValue(metricsBefore, 'recharge_corrections_total') + 1,
      );

      // A second resolve is refused: SUCCEEDED is final; the ledger is not credited twice.
      const again = await t.http
        .post(`/admin/v1/recharges/${id}/resolve`)
        .set('Authorization', op())
        .send({ outcome: 'succeeded', reason: 'credit visible in the BSS console' });
      expectProblem(again, 409, 'INVALID_STATE');
      const count = await query<{ n: number }>(
        t.databaseUrl,
        'SELECT count(*)::int AS n FROM ledger_entries WHERE recharge_id = $1',
        [id],
      );
      expect(count[0].n).toBe(2);
    });

    it('PENDING_CONFIRMATION → not_applied: FAILED/NOT_APPLIED, nothing credited, client sees failure NOT_APPLIED', async () => {
      const id = await seedRecharge(t, client.apiKey, 'PENDING');
      const res = await t.http
        .post(`/admin/v1/recharges/${id}/resolve`)
        .set('Authorization', op())
        .send({ outcome: 'not_applied', reason: 'no such OutBizId at the provider' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'FAILED', failure: { code: 'NOT_APPLIED' } });
      const pub = await t.http.get(`/v1/recharges/${id}`).set('Authorization', bearer(client.apiKey));
      expect(pub.body.failure.code).toBe('NOT_APPLIED');
      expect((await query(t.databaseUrl, 'SELECT 1 FROM ledger_entries WHERE recharge_id = $1', [id])).length).toBe(0);
      const next = await query<{ next_attempt_at: unknown }>(
        t.databaseUrl,
        'SELECT next_attempt_at FROM recharges WHERE id = $1',
        [id],
      );
      expect(next[0].next_attempt_at).toBeNull();
    });

    it('FAILED/TIMEOUT → not_applied keeps FAILED with a FAILED → FAILED event by the operator', async () => {
      const id = await seedRecharge(t, client.apiKey, 'TIMEOUT');
      const res = await t.http
        .post(`/admin/v1/recharges/${id}/resolve`)
        .set('Authorization', op())
        .send({ outcome: 'not_applied', reason: 'no such OutBizId at the provider' });
      expect(res.body).toMatchObject({ state: 'FAILED', failure: { code: 'NOT_APPLIED' } });
      const detail = (await t.http.get(`/admin/v1/recharges/${id}`).set('Authorization', op())).body;
      expect(detail.events.at(-1)).toMatchObject({ from: 'FAILED', to: 'FAILED', source: 'operator' });
    });

    it('FAILED/TIMEOUT → not_applied sends the client a new recharge.failed with NOT_APPLIED (the TIMEOUT one was delivered)', async () => {
      const id = await resolvedNotApplied('delivered');
      const rows = await callbacksOf(id);
      expect(rows.map((r) => [r.event_type, r.status, r.failure])).toEqual([
        ['recharge.failed', 'delivered', 'TIMEOUT'],
        ['recharge.failed', 'pending', 'NOT_APPLIED'],
      ]);
      expect(rows[1].due).toBe(true);
      expect(rows[1].id).not.toBe(rows[0].id);
    });

    it('FAILED/TIMEOUT → not_applied while the TIMEOUT callback still waits: the new one supersedes it', async () => {
      const id = await resolvedNotApplied('waiting');
      const rows = await callbacksOf(id);
      expect(rows.map((r) => [r.status, r.failure])).toEqual([
        ['superseded', 'TIMEOUT'],
        ['pending', 'NOT_APPLIED'],
      ]);
      expect(rows[0].superseded_by).toBe(rows[1].id);
    });

    it.each(['CREATED', 'SUBMITTED', 'SUCCEEDED', 'REJECTED', 'CANCELED'] as const)(
      'from %s → 409 INVALID_STATE, nothing recorded',
      async (situation) => {
        const id = await seedRecharge(t, client.apiKey, situation);
        const before = await actionCount();
        const res = await t.http
          .post(`/admin/v1/recharges/${id}/resolve`)
          .set('Authorization', op())
          .send({ outcome: 'succeeded', reason: 'checked at the provider' });
        expectProblem(res, 409, 'INVALID_STATE');
        expect(await actionCount()).toBe(before);
      },
    );

    it.each([
      ['a reason under 10 characters', { outcome: 'succeeded', reason: 'too short' }, 'reason'],
      ['no reason', { outcome: 'succeeded' }, 'reason'],
      ['an unknown outcome', { outcome: 'maybe', reason: 'checked at the provider' }, 'outcome'],
      ['an unknown field', { outcome: 'succeeded', reason: 'checked at the provider', force: true }, 'force'],
    ])('%s → 400 naming the field, nothing changes', async (_, body, field) => {
      const id = await seedRecharge(t, client.apiKey, 'TIMEOUT');
      const res = await t.http.post(`/admin/v1/recharges/${id}/resolve`).set('Authorization', op()).send(body);
      expectProblem(res, 400, 'INVALID_ARGUMENT');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      const after = await t.http.get(`/admin/v1/recharges/${id}`).set('Authorization', op());
      expect(after.body).toMatchObject({ state: 'FAILED', failure: { code: 'TIMEOUT' } });
    });

    it('an unknown recharge → 404', async () => {
      const res = await t.http
        .post('/admin/v1/recharges/rch_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f/resolve')
        .set('Authorization', op())
        .send({ outcome: 'succeeded', reason: 'checked at the provider' });
      expectProblem(res, 404, 'NOT_FOUND');
    });
  });

  describe('redrive and redeliver', () => {
    it('redrive makes a PENDING_CONFIRMATION recharge due now (same id, no new event) and is audited', async () => {
      const id = await seedRecharge(t, client.apiKey, 'PENDING');
      await query(t.databaseUrl, `UPDATE recharges SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`, [
        id,
      ]);
      const res = await t.http
        .post(`/admin/v1/recharges/${id}/redrive`)
        .set('Authorization', op())
        .send({ reason: 'provider back after an outage' });
      expect(res.status).toBe(200);
      const [row] = await query<{ due: boolean }>(
        t.databaseUrl,
        'SELECT next_attempt_at <= now() AS due FROM recharges WHERE id = $1',
        [id],
      );
      expect(row.due).toBe(true);
      expect(await actionCount("action = 'redrive' AND target_id = $1", [id])).toBe(1);
    });

    it('redrive without a body is accepted (the reason is optional on the API)', async () => {
      const id = await seedRecharge(t, client.apiKey, 'SUBMITTED');
      expect((await t.http.post(`/admin/v1/recharges/${id}/redrive`).set('Authorization', op())).status).toBe(200);
    });

    it.each(['CREATED', 'SUCCEEDED', 'TIMEOUT', 'CANCELED'] as const)('redrive of %s → 409', async (situation) => {
      const id = await seedRecharge(t, client.apiKey, situation);
      const res = await t.http.post(`/admin/v1/recharges/${id}/redrive`).set('Authorization', op()).send({});
      expectProblem(res, 409, 'INVALID_STATE');
    });

    it('redeliver makes the latest callback pending and due again, same delivery id; 409 without a callback', async () => {
      const withCallback = await seedRecharge(t, client.apiKey, 'SUCCEEDED', {
        callbackUrl: 'https://hooks.example.com/recharges',
      });
      await query(
        t.databaseUrl,
        `UPDATE callback_deliveries SET status = 'failed', next_attempt_at = NULL WHERE recharge_id = $1`,
        [withCallback],
      );
      const res = await t.http
        .post(`/admin/v1/recharges/${withCallback}/callbacks/redeliver`)
        .set('Authorization', op())
        .send({ reason: 'receiver fixed their endpoint' });
      expect(res.status).toBe(200);
      const [delivery] = await query<{ id: string; status: string; due: boolean }>(
        t.databaseUrl,
        'SELECT id, status, next_attempt_at <= now() AS due FROM callback_deliveries WHERE recharge_id = $1',
        [withCallback],
      );
      expect(res.body).toMatchObject({ deliveryId: delivery.id, eventType: 'recharge.succeeded' });
      expect(delivery).toMatchObject({ status: 'pending', due: true });

      const without = await seedRecharge(t, client.apiKey, 'SUCCEEDED');
      const refused = await t.http
        .post(`/admin/v1/recharges/${without}/callbacks/redeliver`)
        .set('Authorization', op())
        .send({ reason: 'receiver fixed their endpoint' });
      expectProblem(refused, 409, 'INVALID_STATE');
    });
  });

  describe('redeliver after an operator resolution', () => {
    const redeliver = (id: string) =>
      t.http
        .post(`/admin/v1/recharges/${id}/callbacks/redeliver`)
        .set('Authorization', op())
        .send({ reason: 'receiver asked for it again' });

    it('re-queues the NOT_APPLIED callback, never the superseded TIMEOUT one, and never makes a second waiting one', async () => {
      const id = await resolvedNotApplied('waiting');
      const [, notApplied] = await callbacksOf(id);
      // Still waiting: redeliver only makes it due now.
      expect((await redeliver(id)).body).toMatchObject({ deliveryId: notApplied.id, eventType: 'recharge.failed' });
      // Given up on: pending again, same id.
      await query(
        t.databaseUrl,
        `UPDATE callback_deliveries SET status = 'failed', next_attempt_at = NULL WHERE id = $1`,
        [notApplied.id],
      );
      expect((await redeliver(id)).body).toMatchObject({ deliveryId: notApplied.id });
      const rows = await callbacksOf(id);
      expect(rows.map((r) => [r.status, r.failure])).toEqual([
        ['superseded', 'TIMEOUT'],
        ['pending', 'NOT_APPLIED'],
      ]);
      expect(await actionCount("action = 'redeliver_callback' AND target_id = $1", [id])).toBe(2);
    });

    it('picks the waiting callback even when a replica with a slow clock stamped it older than the one it replaced', async () => {
      // The TIMEOUT callback was delivered; the NOT_APPLIED one, queued by a replica whose clock is an
      // hour behind, carries an older created_at. "Latest by time" would pick the delivered one and
      // make a second waiting callback (refused by the one-waiting index: a 500).
      const id = await resolvedNotApplied('delivered');
      const [, notApplied] = await callbacksOf(id);
      await query(
        t.databaseUrl,
        `UPDATE callback_deliveries SET created_at = created_at - interval '1 hour' WHERE id = $1`,
        [notApplied.id],
      );
      const res = await redeliver(id);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ deliveryId: notApplied.id });
      const rows = await query<{ id: string; status: string }>(
        t.databaseUrl,
        'SELECT id, status FROM callback_deliveries WHERE recharge_id = $1 ORDER BY id',
        [id],
      );
      expect(rows.filter((r) => r.status === 'pending').map((r) => r.id)).toEqual([notApplied.id]);
    });
  });

  describe('the audit trail is append-only', () => {
    it('UPDATE and DELETE on operator_actions are refused by the database', async () => {
      const id = await seedRecharge(t, client.apiKey, 'PENDING');
      await t.http.post(`/admin/v1/recharges/${id}/redrive`).set('Authorization', op()).send({});
      await expect(query(t.databaseUrl, `UPDATE operator_actions SET reason = 'edited'`)).rejects.toThrow(
        /append-only/,
      );
      await expect(query(t.databaseUrl, 'DELETE FROM operator_actions')).rejects.toThrow(/append-only/);
      await expect(query(t.databaseUrl, 'TRUNCATE operator_actions')).rejects.toThrow(/append-only/);
    });
  });

  describe('search', () => {
    it('filters by account, status, state, client, created range and q (id, idempotency key, order reference) with keyset paging', async () => {
      const other = await t.createClient(['*']);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(
          await seedRecharge(t, other.apiKey, 'SUCCEEDED', { accountId: OTHER_ACCOUNT, orderReference: `ord-${i}` }),
        );
      const pending = await seedRecharge(t, other.apiKey, 'PENDING', { accountId: OTHER_ACCOUNT });
      const get = (qs: string) => t.http.get(`/admin/v1/recharges?${qs}`).set('Authorization', view());

      const byAccount = await get(`accountId=${OTHER_ACCOUNT}&limit=100`);
      expect(byAccount.body.data.map((r: { id: string }) => r.id)).toEqual([pending, ...[...ids].reverse()]);
      expect(byAccount.body.data[0]).toMatchObject({ clientId: other.clientId, accountId: OTHER_ACCOUNT });

      const inProgress = await get(`accountId=${OTHER_ACCOUNT}&status=in_progress`);
      expect(inProgress.body.data.map((r: { id: string }) => r.id)).toEqual([pending]);
      const byState = await get(`clientId=${other.clientId}&state=PENDING_CONFIRMATION`);
      expect(byState.body.data.map((r: { id: string }) => r.id)).toEqual([pending]);
      expect((await get(`status=succeeded&state=PENDING_CONFIRMATION`)).body.data).toEqual([]);

      expect((await get(`q=ord-3`)).body.data.map((r: { id: string }) => r.id)).toEqual([ids[3]]);
      expect((await get(`q=${ids[1]}`)).body.data.map((r: { id: string }) => r.id)).toEqual([ids[1]]);
      const [{ idempotency_key }] = await query<{ idempotency_key: string }>(
        t.databaseUrl,
        'SELECT idempotency_key FROM recharges WHERE id = $1',
        [ids[2]],
      );
      expect(
        (await get(`q=${encodeURIComponent(idempotency_key)}`)).body.data.map((r: { id: string }) => r.id),
      ).toEqual([ids[2]]);

      // Keyset paging: two at a time, every recharge once, in order.
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Res = await get(`clientId=${other.clientId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        seen.push(...res.body.data.map((r: { id: string }) => r.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual([pending, ...[...ids].reverse()]);

      const future = new Date(Date.now() + 3600_000).toISOString();
      expect((await get(`clientId=${other.clientId}&createdFrom=${future}`)).body.data).toEqual([]);
      expect((await get(`clientId=${other.clientId}&createdTo=${future}`)).body.data).toHaveLength(6);
    });

    it.each([
      ['accountId=0123', 'accountId'],
      ['accountId=0', 'accountId'],
      ['status=done', 'status'],
      ['state=DONE', 'state'],
      ['createdFrom=yesterday', 'createdFrom'],
      ['limit=1000', 'limit'],
      ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
      ['createdFrom=2026-12-02T00:00:00Z&createdTo=2026-12-01T00:00:00Z', 'createdTo'],
    ])('%s → 400 naming %s', async (qs, field) => {
      const res = await t.http.get(`/admin/v1/recharges?${qs}`).set('Authorization', view());
      expectProblem(res, 400, 'INVALID_ARGUMENT');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    });
  });

  describe('summary', () => {
    it('counts by status for 24 h, pending beyond SLA, open discrepancies, callbacks waiting and a per-minute chart', async () => {
      const res = await t.http.get('/admin/v1/summary').set('Authorization', view());
      expect(res.status).toBe(200);
      const [{ n }] = await query<{ n: number }>(
        t.databaseUrl,
        `SELECT count(*)::int AS n FROM recharges WHERE state = 'SUCCEEDED' AND created_at >= now() - interval '24 hours'`,
      );
      expect(res.body.byStatus.succeeded).toBe(n);
      expect(res.body.byState.SUCCEEDED).toBe(n);
      expect(res.body.provider).toMatchObject({ circuit: 'closed' });
      expect(res.body.rateBudget.limitPerSecond).toBe(t.config.providerMaxRps);
      const chart = res.body.chart;
      expect(chart.minutes.length).toBeGreaterThanOrEqual(180);
      for (const key of ['succeeded', 'failed', 'canceled', 'confirmationP95Seconds'])
        expect(chart[key]).toHaveLength(chart.minutes.length);
      const finishedNow = chart.succeeded.reduce((a: number, b: number) => a + b, 0);
      expect(finishedNow).toBeGreaterThan(0);
    });
  });

  describe('discrepancies', () => {
    it('lists open ones, acknowledges with a note (audited, 409 the second time), then lists them as acknowledged', async () => {
      const id = await seedRecharge(t, client.apiKey, 'CANCELED');
      await seedDiscrepancy(t.app, id, 'success_after_cancel');
      const open = await t.http.get('/admin/v1/discrepancies?status=open').set('Authorization', view());
      const mine = open.body.data.find((d: { rechargeId: string }) => d.rechargeId === id);
      expect(mine).toMatchObject({ kind: 'success_after_cancel', acknowledgedAt: null });
      const summary = await t.http.get('/admin/v1/summary').set('Authorization', view());
      expect(summary.body.openDiscrepancies).toBeGreaterThanOrEqual(1);

      expectProblem(
        await t.http
          .post(`/admin/v1/discrepancies/${mine.id}/acknowledge`)
          .set('Authorization', view())
          .send({ note: 'seen' }),
        403,
        'UNAUTHORIZED',
      );
      expectProblem(
        await t.http
          .post(`/admin/v1/discrepancies/${mine.id}/acknowledge`)
          .set('Authorization', op())
          .send({ note: ' ' }),
        400,
        'INVALID_ARGUMENT',
      );
      const ack = await t.http
        .post(`/admin/v1/discrepancies/${mine.id}/acknowledge`)
        .set('Authorization', op())
        .send({ note: 'refunded the customer by hand' });
      expect(ack.status).toBe(200);
      const again = await t.http
        .post(`/admin/v1/discrepancies/${mine.id}/acknowledge`)
        .set('Authorization', op())
        .send({ note: 'refunded the customer by hand' });
      expectProblem(again, 409, 'INVALID_STATE');
      const acknowledged = await t.http.get('/admin/v1/discrepancies?status=acknowledged').set('Authorization', view());
      expect(acknowledged.body.data.find((d: { id: string }) => d.id === mine.id)).toMatchObject({
        acknowledgedBy: operator.operatorId,
        acknowledgedByName: 'olivia',
        acknowledgementNote: 'refunded the customer by hand',
      });
      const detail = (await t.http.get(`/admin/v1/recharges/${id}`).set('Authorization', view())).body;
      expect(detail.discrepancies).toHaveLength(1);
      expect(detail.operatorActions.map((a: { action: string }) => a.action)).toEqual(['acknowledge_discrepancy']);
      expectProblem(
        await t.http
          .post('/admin/v1/discrepancies/dsc_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f/acknowledge')
          .set('Authorization', op())
          .send({ note: 'nothing' }),
        404,
        'NOT_FOUND',
      );
    });
  });

  describe('account view', () => {
    it('shows the ledger balance, the live provider quota (cached) and recent recharges', async () => {
      const id = await seedRecharge(t, client.apiKey, 'SUCCEEDED', { accountId: ACCOUNT, amount: 500 });
      const res = await t.http.get(`/admin/v1/accounts/${ACCOUNT}`).set('Authorization', view());
      expect(res.status).toBe(200);
      expect(res.body.providerQuotaError).toBeNull();
      expect(res.body.providerQuota).toMatchObject({ amount: 100000, currency: 'CNY' });
      expect(res.body.balances.find((b: { currency: string }) => b.currency === 'CNY').amount).toBeGreaterThanOrEqual(
        500,
      );
      expect(res.body.recentRecharges.map((r: { id: string }) => r.id)).toContain(id);
      expect(res.body.rules).toEqual([]);
      // Within 30 s the same answer is served from the cache: no second quota call reaches the provider.
      const calls = () => sim.stats().requests.QueryResellerAvailableQuota ?? 0;
      const before = calls();
      expect(before).toBeGreaterThanOrEqual(1); // the first view did ask the provider
      const again = await t.http.get(`/admin/v1/accounts/${ACCOUNT}`).set('Authorization', view());
      expect(again.body.providerQuota).toEqual(res.body.providerQuota);
      expect(calls()).toBe(before);
    });

    it('an honest error, not a zero, when the provider cannot answer', async () => {
      const down = await startTestApp({
        PROVIDER: 'simulator',
        ALIBABA_CLOUD_BSS_ENDPOINT: 'http://127.0.0.1:9',
        PROVIDER_TIMEOUT_MS: '1000',
      });
      try {
        const who = await createOperator(down.app, 'viewer');
        const res = await down.http.get(`/admin/v1/accounts/${ACCOUNT}`).set('Authorization', bearer(who.token));
        expect(res.status).toBe(200);
        expect(res.body.providerQuota).toBeNull();
        expect(res.body.providerQuotaError).toMatch(/provider quota unavailable/);
      } finally {
        await down.close();
      }
    });
  });

  describe('auto-recharge rules', () => {
    const RULE_ACCOUNT = '31337';
    const createRule = async (apiKey: string, currency = 'CNY') =>
      (
        await t.http
          .post('/v1/rules')
          .set('Authorization', bearer(apiKey))
          .send({
            accountId: RULE_ACCOUNT,
            currency,
            trigger: { type: 'threshold', below: 50000 },
            topUp: { type: 'target', amount: 200000 },
          })
          .expect(201)
      ).body as { id: string };
    const ruleAction = (
      id: string,
      verb: 'pause' | 'resume',
      as = op(),
      reason = 'customer asked us to stop top-ups',
    ) => t.http.post(`/admin/v1/rules/${id}/${verb}`).set('Authorization', as).send({ reason });
    const clientView = async (id: string) =>
      (await t.http.get(`/v1/rules/${id}`).set('Authorization', bearer(client.apiKey)).expect(200)).body;

    it("the account view and GET /admin/v1/rules show every client's rules, with clientId and filters", async () => {
      const other = await t.createClient(['*']);
      const mine = await createRule(client.apiKey);
      const theirs = await createRule(other.apiKey);
      const account = await t.http.get(`/admin/v1/accounts/${RULE_ACCOUNT}`).set('Authorization', view()).expect(200);
      expect(account.body.rules.map((r: { id: string }) => r.id).sort()).toEqual([mine.id, theirs.id].sort());
      expect(account.body.rules.find((r: { id: string }) => r.id === mine.id)).toEqual({
        ...(await clientView(mine.id)),
        clientId: client.clientId,
      });

      const byClient = await t.http
        .get(`/admin/v1/rules?clientId=${other.clientId}`)
        .set('Authorization', view())
        .expect(200);
      expect(byClient.body).toEqual({ data: [expect.objectContaining({ id: theirs.id })], nextCursor: null });
      const first = await t.http
        .get(`/admin/v1/rules?accountId=${RULE_ACCOUNT}&limit=1`)
        .set('Authorization', view())
        .expect(200);
      expect(first.body.data).toHaveLength(1);
      const second = await t.http
        .get(`/admin/v1/rules?accountId=${RULE_ACCOUNT}&limit=1&cursor=${first.body.nextCursor}`)
        .set('Authorization', view())
        .expect(200);
      expect([first.body.data[0].id, second.body.data[0].id].sort()).toEqual([mine.id, theirs.id].sort());
      expectProblem(
        await t.http.get('/admin/v1/rules?status=gone').set('Authorization', view()),
        400,
        'INVALID_ARGUMENT',
      );
      expectProblem(
        await t.http.get('/admin/v1/rules').set('Authorization', bearer(client.apiKey)),
        401,
        'UNAUTHENTICATED',
      );
    });

    it('an operator pauses and resumes a rule with a reason: audited in the same transaction, counted, seen by the client', async () => {
      const rule = await createRule(client.apiKey, 'USD');
      const metric = async (action: string) =>
        metricValue((await t.http.get('/metrics')).text, 'operator_actions_total', { action });
      const pausedBefore = await metric('pause_rule');
      const paused = await ruleAction(rule.id, 'pause').expect(200);
      expect(paused.body).toMatchObject({ id: rule.id, status: 'paused', clientId: client.clientId });
      expect((await clientView(rule.id)).status).toBe('paused');
      expect(await metric('pause_rule')).toBe(pausedBefore + 1);
      // Nothing to change → 409, nothing recorded.
      expectProblem(await ruleAction(rule.id, 'pause'), 409, 'INVALID_STATE');

      // A disabled rule resumed by an operator starts its run of failures over and is due at once.
      await query(
        t.databaseUrl,
        `UPDATE rules SET status = 'disabled', disabled_reason = '3 top-ups in a row did not succeed', consecutive_failures = 3, due_at = NULL WHERE id = $1`,
        [rule.id],
      );
      const resumed = await ruleAction(rule.id, 'resume', op(), 'provider fixed the account, try again').expect(200);
      expect(resumed.body).toMatchObject({ status: 'active', consecutiveFailures: 0, disabledReason: null });
      const [row] = await query<{ due: boolean }>(
        t.databaseUrl,
        'SELECT due_at <= now() AS due FROM rules WHERE id = $1',
        [rule.id],
      );
      expect(row.due).toBe(true);
      expectProblem(await ruleAction(rule.id, 'resume'), 409, 'INVALID_STATE');

      const audit = await query<{
        operator_id: string;
        action: string;
        target_type: string;
        recharge_id: null;
        reason: string;
      }>(
        t.databaseUrl,
        `SELECT operator_id, action, target_type, recharge_id, reason FROM operator_actions WHERE target_id = $1 ORDER BY id`,
        [rule.id],
      );
      expect(audit).toEqual([
        {
          operator_id: operator.operatorId,
          action: 'pause_rule',
          target_type: 'rule',
          recharge_id: null,
          reason: 'customer asked us to stop top-ups',
        },
        {
          operator_id: operator.operatorId,
          action: 'resume_rule',
          target_type: 'rule',
          recharge_id: null,
          reason: 'provider fixed the account, try again',
        },
      ]);
    });

    it('a viewer, a short reason, an unknown or deleted rule: refused, nothing changes, nothing recorded', async () => {
      const rule = await createRule(client.apiKey, 'JPY');
      const before = await actionCount('target_id = $1', [rule.id]);
      expectProblem(await ruleAction(rule.id, 'pause', view()), 403, 'UNAUTHORIZED');
      const short = await ruleAction(rule.id, 'pause', op(), 'because');
      expectProblem(short, 400, 'INVALID_ARGUMENT');
      expect(short.body.errors.map((e: { field: string }) => e.field)).toEqual(['reason']);
      expect((await clientView(rule.id)).status).toBe('active');
      expectProblem(await ruleAction('rul_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f', 'pause'), 404, 'NOT_FOUND');
      expectProblem(await ruleAction('not-a-rule', 'pause'), 404, 'NOT_FOUND');
      await t.http.delete(`/v1/rules/${rule.id}`).set('Authorization', bearer(client.apiKey)).expect(204);
      expectProblem(await ruleAction(rule.id, 'pause'), 404, 'NOT_FOUND');
      expect(await actionCount('target_id = $1', [rule.id])).toBe(before);
    });
  });

  describe('ledger.csv', () => {
    it('is RFC 4180 CSV with the agreed columns, CRLF line ends and quoted fields', async () => {
      const id = await seedRecharge(t, client.apiKey, 'PENDING', { accountId: '31337', amount: 2500 });
      await t.http
        .post(`/admin/v1/recharges/${id}/resolve`)
        .set('Authorization', op())
        .send({ outcome: 'succeeded', reason: 'checked at the provider', providerReference: 'TX,"quoted"' });
      const res = await t.http.get('/admin/v1/ledger.csv?accountId=31337').set('Authorization', view());
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      const lines = res.text.split('\r\n');
      expect(lines[0]).toBe('entryId,at,accountId,rechargeId,clientId,direction,amount,currency,providerReference');
      expect(lines.at(-1)).toBe('');
      expect(lines).toHaveLength(3);
      expect(lines[1]).toMatch(
        new RegExp(`^led_[0-9a-f]{32},[0-9T:.Z-]+,31337,${id},${client.clientId},credit,2500,CNY,"TX,""quoted"""$`),
      );
      const unauthorized = await t.http.get('/admin/v1/ledger.csv');
      expectProblem(unauthorized, 401, 'UNAUTHENTICATED');
      const bad = await t.http
        .get('/admin/v1/ledger.csv?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z')
        .set('Authorization', view());
      expectProblem(bad, 400, 'INVALID_ARGUMENT');
    });
  });

  describe('the recharge detail tells the whole story', () => {
    it('has the recharge, clientId and every part of its timeline', async () => {
      const id = await seedRecharge(t, client.apiKey, 'PENDING');
      const res = await t.http.get(`/admin/v1/recharges/${id}`).set('Authorization', view());
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id, clientId: client.clientId, state: 'PENDING_CONFIRMATION' });
      for (const key of [
        'events',
        'providerCalls',
        'notifications',
        'callbackAttempts',
        'ledger',
        'discrepancies',
        'operatorActions',
      ])
        expect(Array.isArray(res.body[key])).toBe(true);
      expect(res.body.events.map((e: { to: string }) => e.to)).toEqual([
        'CREATED',
        'SUBMITTED',
        'PENDING_CONFIRMATION',
      ]);
      expectProblem(await t.http.get('/admin/v1/recharges/nope').set('Authorization', view()), 404, 'NOT_FOUND');
    });
  });
});
