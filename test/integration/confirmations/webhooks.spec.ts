import { createBssSimulator } from '../../../libs/bss-simulator';
import { newId } from '../../../libs/shared/ids';
import { ReconcileUseCase } from '../../../src/recharge/application/reconcile.use-case';
import {
  metricValue,
  newWebhookId,
  newWebhookSecret,
  NotificationData,
  providerEvent,
  signatureHeaders,
  Sql,
  sqlOn,
} from '../../support/confirmations';
import { AwaitedRecharge, awaitedRecharge, ledgerRowsOf, newAccountId, signed } from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';
import { newKey, PROBLEM_JSON } from '../../support/e2e-helpers';
import { startTestApp, TestApp } from '../../support/test-app';

/**
 * POST /webhooks/alibaba-cloud (docs/webhooks.md) on the real application and a real database:
 * Standard Webhooks verification against every configured secret before anything is stored, the
 * inbox deduplicated on webhook-id, and every notification applied through the state rules.
 */
describe('provider notifications: POST /webhooks/alibaba-cloud (issue 4)', () => {
  const OLD_SECRET = newWebhookSecret();
  const NEW_SECRET = newWebhookSecret();
  let t: TestApp;
  let sql: Sql;
  let auth: string;

  beforeAll(async () => {
    // Two active secrets: the rotation case. Nothing is due at the provider in this file (every
    // recharge is parked an hour ahead), so the provider endpoint is never called.
    t = await startTestApp({ PROVIDER_WEBHOOK_SECRETS: `${OLD_SECRET},${NEW_SECRET}` });
    auth = `Bearer ${(await t.createClient(['*'])).apiKey}`;
    sql = sqlOn(t.databaseUrl);
  });

  afterAll(async () => {
    await sql?.close();
    await t?.close();
  });

  const openRecharge = (state: 'SUBMITTED' | 'PENDING_CONFIRMATION' = 'SUBMITTED', amount = 4999, currency = 'CNY') =>
    awaitedRecharge(t, sql, auth, { state, amount, currency });

  /** A recharge that ended FAILED: our own TIMEOUT, or a definitive provider rejection. */
  async function failedRecharge(code: 'TIMEOUT' | 'PROVIDER_REJECTED'): Promise<AwaitedRecharge> {
    const r = await openRecharge();
    await sql(
      `UPDATE recharges SET state = 'FAILED', failure_code = $2, failure_message = 'set up by the test', failure_provider_code = $3,
         completed_at = now(), next_attempt_at = NULL WHERE id = $1`,
      [r.id, code, code === 'PROVIDER_REJECTED' ? 'NotAuthorized' : null],
    );
    return r;
  }

  const dataFor = (r: AwaitedRecharge, overrides: NotificationData = {}): NotificationData => ({
    OutBizId: r.id,
    OwnerId: r.accountId,
    Amount: (r.amount / 100).toFixed(2),
    Currency: r.currency,
    ...overrides,
  });

  interface Send {
    secret?: string;
    webhookId?: string;
    at?: Date;
    contentType?: string;
  }

  /** Signs and posts a raw body exactly as a relay would. */
  function post(body: string, o: Send = {}) {
    const headers = signatureHeaders(o.secret ?? OLD_SECRET, body, o.webhookId ?? newWebhookId(), o.at ?? new Date());
    return t.http
      .post('/webhooks/alibaba-cloud')
      .set(headers)
      .set('Content-Type', o.contentType ?? 'application/cloudevents+json; charset=utf-8')
      .send(body);
  }
  const deliver = (type: string, data: NotificationData, o: Send = {}) =>
    post(JSON.stringify(providerEvent(type, data)), o);

  const get = async (id: string) => (await t.http.get(`/v1/recharges/${id}`).set('Authorization', auth)).body;
  const inboxRows = (outBizId: string) =>
    sql<{ webhook_id: string; type: string; result: string | null; processed_at: Date | null }>(
      'SELECT webhook_id, type, result, processed_at FROM provider_notifications WHERE out_biz_id = $1 ORDER BY received_at',
      [outBizId],
    );
  const storedCount = async () =>
    Number((await sql<{ n: string }>('SELECT count(*) AS n FROM provider_notifications'))[0].n);
  const metrics = async () => (await t.http.get('/metrics').expect(200)).text;
  const balanceOf = async (accountId: string) =>
    (await t.http.get(`/v1/accounts/${accountId}/balance`).set('Authorization', auth)).body;

  /** Credited once in our books: the two journal lines, summing to zero, and the account balance. */
  async function expectLedgeredOnce(r: AwaitedRecharge) {
    const rows = await ledgerRowsOf(t.databaseUrl, r.id);
    expect(rows).toEqual([
      {
        recharge_id: r.id,
        ledger_account: 'provider_clearing',
        account_id: null,
        direction: 'debit',
        amount: String(r.amount),
        currency: r.currency,
      },
      {
        recharge_id: r.id,
        ledger_account: `customer:${r.accountId}`,
        account_id: r.accountId,
        direction: 'credit',
        amount: String(r.amount),
        currency: r.currency,
      },
    ]);
    expect(rows.reduce((sum, row) => sum + signed(row), 0n)).toBe(0n);
    expect(await balanceOf(r.accountId)).toEqual({
      accountId: r.accountId,
      balances: [{ currency: r.currency, amount: r.amount }],
    });
  }

  async function expectNotLedgered(r: AwaitedRecharge) {
    expect(await ledgerRowsOf(t.databaseUrl, r.id)).toEqual([]);
    expect(await balanceOf(r.accountId)).toEqual({ accountId: r.accountId, balances: [] });
  }

  describe('a valid signature', () => {
    it.each(['SUBMITTED', 'PENDING_CONFIRMATION'] as const)(
      'Succeeded for a %s recharge → 200 applied, SUCCEEDED, ledger credited once',
      async (state) => {
        const r = await openRecharge(state);
        const webhookId = newWebhookId();

        const res = await deliver('Succeeded', dataFor(r, { TransactionNumber: '2026112500001' }), { webhookId });

        expect(res.status).toBe(200);
        expect(res.body).toEqual({ received: true, result: 'applied' });
        expect(await get(r.id)).toMatchObject({
          state: 'SUCCEEDED',
          status: 'succeeded',
          providerReference: '2026112500001',
          failure: null,
        });
        const events = await t.http.get(`/v1/recharges/${r.id}/events`).set('Authorization', auth);
        expect(events.body.data.at(-1)).toMatchObject({ from: state, to: 'SUCCEEDED', source: 'webhook' });
        expect(await inboxRows(r.id)).toEqual([
          { webhook_id: webhookId, type: 'bss:Recharge:Succeeded', result: 'applied', processed_at: expect.any(Date) },
        ]);
        await expectLedgeredOnce(r);
      },
    );

    it('plain application/json is accepted as well', async () => {
      const r = await openRecharge();
      const res = await deliver('Succeeded', dataFor(r), { contentType: 'application/json' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ received: true, result: 'applied' });
      await expectLedgeredOnce(r);
    });

    it('Failed for a SUBMITTED recharge → FAILED with PROVIDER_REJECTED and the provider code; nothing ledgered', async () => {
      const r = await openRecharge();
      const res = await deliver('Failed', dataFor(r, { FailureCode: 'InsufficientQuota' }));
      expect(res.body).toEqual({ received: true, result: 'applied' });
      expect(await get(r.id)).toMatchObject({
        state: 'FAILED',
        failure: { code: 'PROVIDER_REJECTED', providerCode: 'InsufficientQuota' },
      });
      await expectNotLedgered(r);
    });

    it('a notification the BSS simulator signs and sends itself is applied (interoperability)', async () => {
      const r = await openRecharge();
      await t.app.listen(0, '127.0.0.1');
      const sim = await createBssSimulator({
        port: 0,
        notify: { url: `${await t.app.getUrl()}/webhooks/alibaba-cloud`, secret: NEW_SECRET },
      });
      try {
        const event = sim.notify('Succeeded', {
          ...dataFor(r),
          Status: 'SUCCEEDED',
          TransactionNumber: 'sim-1',
          FailureCode: null,
        });
        const rows = await waitFor(
          async () => ((await inboxRows(r.id))[0]?.result ? inboxRows(r.id) : null),
          10_000,
          'the simulator notification',
        );
        expect(rows).toEqual([
          { webhook_id: event.id, type: 'bss:Recharge:Succeeded', result: 'applied', processed_at: expect.any(Date) },
        ]);
        await waitFor(() => sim.stats().notifications.delivered === 1, 5000, 'the simulator to see a 2xx');
        expect(sim.stats().notifications).toEqual({ delivered: 1, failed: 0 });
      } finally {
        await sim.close();
      }
      await expectLedgeredOnce(r);
    });
  });

  describe('authentication: 401 UNAUTHENTICATED and nothing stored', () => {
    async function expectRefused(
      res: { status: number; headers: Record<string, string>; body: Record<string, unknown> },
      before: number,
      r: AwaitedRecharge,
    ) {
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.body).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      expect(await storedCount()).toBe(before);
      expect(await inboxRows(r.id)).toEqual([]);
      expect((await get(r.id)).state).toBe('SUBMITTED');
      await expectNotLedgered(r);
    }

    it('a signature made with an unknown secret', async () => {
      const r = await openRecharge();
      const before = await storedCount();
      await expectRefused(await deliver('Succeeded', dataFor(r), { secret: newWebhookSecret() }), before, r);
    });

    it('a body changed after signing', async () => {
      const r = await openRecharge();
      const before = await storedCount();
      const signedBody = JSON.stringify(providerEvent('Succeeded', dataFor(r, { Amount: '0.01' })));
      const headers = signatureHeaders(OLD_SECRET, signedBody);
      const res = await t.http
        .post('/webhooks/alibaba-cloud')
        .set(headers)
        .set('Content-Type', 'application/json')
        .send(signedBody.replace('"0.01"', `"${(r.amount / 100).toFixed(2)}"`));
      await expectRefused(res, before, r);
    });

    it.each([
      ['more than 5 minutes old', -6 * 60_000],
      ['more than 5 minutes in the future', 6 * 60_000],
    ])('a correct signature with a timestamp %s', async (_label, skewMs) => {
      const r = await openRecharge();
      const before = await storedCount();
      await expectRefused(await deliver('Succeeded', dataFor(r), { at: new Date(Date.now() + skewMs) }), before, r);
    });

    it.each([['webhook-id'], ['webhook-timestamp'], ['webhook-signature']])(
      'the %s header missing',
      async (missing) => {
        const r = await openRecharge();
        const before = await storedCount();
        const body = JSON.stringify(providerEvent('Succeeded', dataFor(r)));
        const headers = signatureHeaders(OLD_SECRET, body);
        delete headers[missing];
        const res = await t.http
          .post('/webhooks/alibaba-cloud')
          .set(headers)
          .set('Content-Type', 'application/json')
          .send(body);
        await expectRefused(res, before, r);
      },
    );

    it('refusals are counted in webhook_events_total{result="invalid_signature"}, malformed ones in {result="malformed"}', async () => {
      const r = await openRecharge();
      const before = await metrics();
      await deliver('Succeeded', dataFor(r), { secret: newWebhookSecret() }).expect(401);
      await post('not json').expect(400);
      const after = await metrics();
      const delta = (result: string) =>
        metricValue(after, 'webhook_events_total', { result }) -
        metricValue(before, 'webhook_events_total', { result });
      expect([delta('invalid_signature'), delta('malformed'), delta('applied')]).toEqual([1, 1, 0]);
    });

    it('no signature headers at all', async () => {
      const r = await openRecharge();
      const before = await storedCount();
      const res = await t.http
        .post('/webhooks/alibaba-cloud')
        .set('Content-Type', 'application/json')
        .send(providerEvent('Succeeded', dataFor(r)));
      await expectRefused(res, before, r);
    });
  });

  it('secret rotation: notifications signed with either active secret are accepted', async () => {
    const a = await openRecharge();
    const b = await openRecharge();
    expect((await deliver('Succeeded', dataFor(a), { secret: NEW_SECRET })).body).toEqual({
      received: true,
      result: 'applied',
    });
    expect((await deliver('Succeeded', dataFor(b), { secret: OLD_SECRET })).body).toEqual({
      received: true,
      result: 'applied',
    });
    await expectLedgeredOnce(a);
    await expectLedgeredOnce(b);
  });

  describe('malformed but correctly signed: 400 INVALID_ARGUMENT, nothing stored', () => {
    const cases: Array<[string, (r: AwaitedRecharge) => string, string | undefined]> = [
      ['a body that is not JSON', () => '{"specversion":"1.0", not json', undefined],
      ['a JSON array', (r) => JSON.stringify([providerEvent('Succeeded', dataFor(r))]), undefined],
      [
        'data without OutBizId',
        (r) => {
          const event = providerEvent('Succeeded', dataFor(r));
          delete (event.data as Record<string, unknown>).OutBizId;
          return JSON.stringify(event);
        },
        'data.OutBizId',
      ],
      ['an unknown event type', (r) => JSON.stringify(providerEvent('bss:Recharge:Refunded', dataFor(r))), 'type'],
      ['no data at all', (r) => JSON.stringify({ ...providerEvent('Succeeded', dataFor(r)), data: undefined }), 'data'],
      [
        'an amount that is not a decimal string',
        (r) => JSON.stringify(providerEvent('Succeeded', dataFor(r, { Amount: '-49.99' }))),
        'data.Amount',
      ],
      [
        'a numeric OwnerId (UIDs are strings)',
        (r) => JSON.stringify(providerEvent('Succeeded', dataFor(r, { OwnerId: 1234 as unknown as string }))),
        'data.OwnerId',
      ],
    ];

    it.each(cases)('%s', async (_label, body, field) => {
      const r = await openRecharge();
      const before = await storedCount();
      const res = await post(body(r));
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.body).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
      if (field) expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      expect(await storedCount()).toBe(before);
      expect((await get(r.id)).state).toBe('SUBMITTED');
      await expectNotLedgered(r);
    });
  });

  describe('duplicates and reordering', () => {
    it('the same webhook-id twice → 200 duplicate, one stored row, one ledger credit', async () => {
      const r = await openRecharge();
      const body = JSON.stringify(providerEvent('Succeeded', dataFor(r)));
      const webhookId = newWebhookId();

      const first = await post(body, { webhookId });
      const second = await post(body, { webhookId });

      expect(first.body).toEqual({ received: true, result: 'applied' });
      expect(second.status).toBe(200);
      expect(second.body).toEqual({ received: true, result: 'duplicate' });
      expect(await inboxRows(r.id)).toEqual([
        { webhook_id: webhookId, type: 'bss:Recharge:Succeeded', result: 'applied', processed_at: expect.any(Date) },
      ]);
      await expectLedgeredOnce(r);
    });

    it('concurrent redeliveries of one webhook-id → exactly one applied, the rest duplicate', async () => {
      const r = await openRecharge();
      const body = JSON.stringify(providerEvent('Succeeded', dataFor(r)));
      const webhookId = newWebhookId();
      const answers = await Promise.all(Array.from({ length: 6 }, () => post(body, { webhookId })));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(answers.map((a) => a.body.result).sort()).toEqual([
        'applied',
        'duplicate',
        'duplicate',
        'duplicate',
        'duplicate',
        'duplicate',
      ]);
      expect(await inboxRows(r.id)).toHaveLength(1);
      await expectLedgeredOnce(r);
    });

    it('the same event under a new webhook-id → duplicate result, no second credit', async () => {
      const r = await openRecharge();
      const event = providerEvent('Succeeded', dataFor(r));
      const first = await deliver('Succeeded', dataFor(r));
      const again = await post(JSON.stringify(event));
      expect(first.body.result).toBe('applied');
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ received: true, result: 'duplicate' });
      expect((await inboxRows(r.id)).map((row) => row.result)).toEqual(['applied', 'duplicate']);
      await expectLedgeredOnce(r);
    });

    it('Failed after Succeeded → ignored; stays SUCCEEDED, ledger unchanged', async () => {
      const r = await openRecharge();
      expect((await deliver('Succeeded', dataFor(r))).body.result).toBe('applied');

      const late = await deliver('Failed', dataFor(r, { FailureCode: 'InternalError' }));

      expect(late.status).toBe(200);
      expect(late.body).toEqual({ received: true, result: 'ignored' });
      expect(await get(r.id)).toMatchObject({ state: 'SUCCEEDED', failure: null });
      expect((await inboxRows(r.id)).map((row) => [row.type, row.result])).toEqual([
        ['bss:Recharge:Succeeded', 'applied'],
        ['bss:Recharge:Failed', 'ignored'],
      ]);
      await expectLedgeredOnce(r);
    });

    it('Canceled after Succeeded → ignored; stays SUCCEEDED', async () => {
      const r = await openRecharge();
      await deliver('Succeeded', dataFor(r));
      expect((await deliver('Canceled', dataFor(r))).body.result).toBe('ignored');
      expect((await get(r.id)).state).toBe('SUCCEEDED');
      await expectLedgeredOnce(r);
    });
  });

  describe('late proof and refusals', () => {
    it('Succeeded for a FAILED(TIMEOUT) recharge → SUCCEEDED as a correction; recharge_corrections_total counts it', async () => {
      const r = await failedRecharge('TIMEOUT');
      const before = metricValue(await metrics(), 'recharge_corrections_total');

      const res = await deliver('Succeeded', dataFor(r, { TransactionNumber: 'late-1' }));

      expect(res.body).toEqual({ received: true, result: 'applied' });
      expect(await get(r.id)).toMatchObject({ state: 'SUCCEEDED', failure: null, providerReference: 'late-1' });
      const [event] = await sql<{ from_state: string; to_state: string; source: string; correction: boolean }>(
        'SELECT from_state, to_state, source, correction FROM recharge_events WHERE recharge_id = $1 ORDER BY id DESC LIMIT 1',
        [r.id],
      );
      expect(event).toEqual({ from_state: 'FAILED', to_state: 'SUCCEEDED', source: 'webhook', correction: true });
      expect(metricValue(await metrics(), 'recharge_corrections_total')).toBe(before + 1);
      await expectLedgeredOnce(r);
    });

    it('item 2 (webhook): Succeeded for a FAILED(PROVIDER_REJECTED) recharge → discrepancy success_after_failure; stays FAILED, nothing ledgered', async () => {
      const r = await failedRecharge('PROVIDER_REJECTED');
      const before = metricValue(await metrics(), 'recharge_corrections_total');
      const discrepanciesBefore = metricValue(await metrics(), 'recharge_discrepancies_total', {
        kind: 'success_after_failure',
      });
      const webhookId = newWebhookId();
      const res = await deliver('Succeeded', dataFor(r), { webhookId });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ received: true, result: 'discrepancy' });
      expect(await get(r.id)).toMatchObject({ state: 'FAILED', failure: { code: 'PROVIDER_REJECTED' } });
      expect(metricValue(await metrics(), 'recharge_corrections_total')).toBe(before);
      await expectNotLedgered(r);
      expect(
        await sql("SELECT kind, evidence->>'webhookId' AS webhook_id FROM discrepancies WHERE recharge_id = $1", [
          r.id,
        ]),
      ).toEqual([{ kind: 'success_after_failure', webhook_id: webhookId }]);
      expect(metricValue(await metrics(), 'recharge_discrepancies_total', { kind: 'success_after_failure' })).toBe(
        discrepanciesBefore + 1,
      );
    });

    it('amounts compare by value: "49.990" equals 4999 CNY', async () => {
      const r = await openRecharge('SUBMITTED', 4999, 'CNY');
      const res = await deliver('Succeeded', dataFor(r, { Amount: '49.990' }));
      expect(res.body).toEqual({ received: true, result: 'applied' });
      await expectLedgeredOnce(r);
    });

    it('JPY has no minor unit: "4999" equals 4999 JPY', async () => {
      const r = await openRecharge('SUBMITTED', 4999, 'JPY');
      const res = await deliver('Succeeded', dataFor(r, { Amount: '4999' }));
      expect(res.body).toEqual({ received: true, result: 'applied' });
      await expectLedgeredOnce(r);
    });
  });

  describe('discrepancies: not applied, recorded, counted', () => {
    it.each([
      ['Amount', { Amount: '50.00' }],
      ['Amount', { Amount: '4999' }],
      ['Currency', { Currency: 'USD' }],
      ['OwnerId', { OwnerId: '9999999999999999' }],
    ] as Array<[string, NotificationData]>)('a mismatched %s (%j) → 200 discrepancy', async (field, overrides) => {
      const r = await openRecharge();
      const before = metricValue(await metrics(), 'recharge_discrepancies_total', { kind: 'notification_mismatch' });
      const webhookId = newWebhookId();

      const res = await deliver('Succeeded', dataFor(r, overrides), { webhookId });

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ received: true, result: 'discrepancy' });
      expect((await get(r.id)).state).toBe('SUBMITTED');
      await expectNotLedgered(r);
      const rows = await sql<{
        kind: string;
        recharge_id: string;
        evidence: { mismatches: string[]; webhookId: string };
        acknowledged_at: Date | null;
      }>('SELECT kind, recharge_id, evidence, acknowledged_at FROM discrepancies WHERE recharge_id = $1', [r.id]);
      expect(rows).toEqual([
        {
          kind: 'notification_mismatch',
          recharge_id: r.id,
          evidence: expect.objectContaining({ mismatches: [field], webhookId }),
          acknowledged_at: null,
        },
      ]);
      expect(await inboxRows(r.id)).toEqual([
        {
          webhook_id: webhookId,
          type: 'bss:Recharge:Succeeded',
          result: 'discrepancy',
          processed_at: expect.any(Date),
        },
      ]);
      const after = metricValue(await metrics(), 'recharge_discrepancies_total', { kind: 'notification_mismatch' });
      expect(after).toBe(before + 1);
      expect(after).toBeGreaterThan(0);
    });

    it('Succeeded for a recharge canceled before it was sent → discrepancy success_after_cancel; stays CANCELED, nothing ledgered', async () => {
      const accountId = newAccountId();
      const created = await t.http
        .post('/v1/recharges')
        .set('Authorization', auth)
        .set('Idempotency-Key', newKey())
        .send({ accountId, amount: 4999, currency: 'CNY' });
      const r: AwaitedRecharge = { id: created.body.id, accountId, amount: 4999, currency: 'CNY' };
      await t.http.post(`/v1/recharges/${r.id}/cancel`).set('Authorization', auth).expect(200);
      const before = metricValue(await metrics(), 'recharge_discrepancies_total', { kind: 'success_after_cancel' });

      const res = await deliver('Succeeded', dataFor(r));

      expect(res.body).toEqual({ received: true, result: 'discrepancy' });
      expect((await get(r.id)).state).toBe('CANCELED');
      await expectNotLedgered(r);
      expect(await sql('SELECT kind FROM discrepancies WHERE recharge_id = $1', [r.id])).toEqual([
        { kind: 'success_after_cancel' },
      ]);
      expect(metricValue(await metrics(), 'recharge_discrepancies_total', { kind: 'success_after_cancel' })).toBe(
        before + 1,
      );
    });

    it('a redelivery of a mismatched notification is a duplicate, recorded once', async () => {
      const r = await openRecharge();
      const body = JSON.stringify(providerEvent('Succeeded', dataFor(r, { Amount: '1.00' })));
      const webhookId = newWebhookId();
      expect((await post(body, { webhookId })).body.result).toBe('discrepancy');
      expect((await post(body, { webhookId })).body.result).toBe('duplicate');
      expect(await sql('SELECT id FROM discrepancies WHERE recharge_id = $1', [r.id])).toHaveLength(1);
    });
  });

  it('unknown OutBizId → 200 orphan, kept; matched by reconciliation once the recharge exists', async () => {
    const orphanId = newId('rch');
    const accountId = newAccountId();
    const webhookId = newWebhookId();

    const res = await deliver(
      'Succeeded',
      { OutBizId: orphanId, OwnerId: accountId, Amount: '12.34', Currency: 'CNY', TransactionNumber: 'orphan-1' },
      { webhookId },
    );

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, result: 'orphan' });
    expect(await inboxRows(orphanId)).toEqual([
      { webhook_id: webhookId, type: 'bss:Recharge:Succeeded', result: 'orphan', processed_at: expect.any(Date) },
    ]);

    // The recharge appears later under exactly that id: a copy of an API-created one, re-keyed.
    const template = await openRecharge('SUBMITTED', 1234, 'CNY');
    await sql(
      `INSERT INTO recharges (id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency, order_reference, metadata,
         callback_url, state, attempts, next_attempt_at, submitted_at, created_at, updated_at, version)
       SELECT $1, client_id, $2, request_fingerprint, $3, amount, currency, order_reference, metadata,
         callback_url, 'SUBMITTED', 1, now() + interval '1 hour', now(), now(), now(), 1
       FROM recharges WHERE id = $4`,
      [orphanId, newKey(), accountId, template.id],
    );
    // The template itself is finished first, so the pass below has nothing else to do.
    expect((await deliver('Succeeded', dataFor(template))).body.result).toBe('applied');

    const report = await t.app.get(ReconcileUseCase).runOnce();

    expect(report).toMatchObject({
      outcome: 'succeeded',
      orphansMatched: 1,
      orphansOpen: 0,
      redriven: 0,
      expired: 0,
      discrepancies: 0,
    });
    expect(await get(orphanId)).toMatchObject({
      state: 'SUCCEEDED',
      providerReference: 'orphan-1',
      accountId,
      amount: 1234,
    });
    expect(await inboxRows(orphanId)).toEqual([
      { webhook_id: webhookId, type: 'bss:Recharge:Succeeded', result: 'applied', processed_at: expect.any(Date) },
    ]);
    await expectLedgeredOnce({ id: orphanId, accountId, amount: 1234, currency: 'CNY' });

    // Matched once: the next pass finds no orphan left.
    expect(await t.app.get(ReconcileUseCase).runOnce()).toMatchObject({ orphansMatched: 0, orphansOpen: 0 });
  });
});
