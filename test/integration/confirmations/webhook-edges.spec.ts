import { RechargeRepository } from '../../../src/recharge/application/ports/recharge.repository';
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
import { AwaitedRecharge, awaitedRecharge } from '../../support/dispatcher-harness';
import { PROBLEM_JSON } from '../../support/e2e-helpers';
import { startTestApp, TestApp } from '../../support/test-app';

/**
 * POST /webhooks/alibaba-cloud on the real application and a real PostgreSQL (issue 11 item 6): a
 * notification whose `type` and `data.Status` disagree is refused before anything is stored, and a
 * Failed whose FailureCode the provider would retry re-drives the recharge instead of ending it.
 */
describe('provider notifications: type vs Status, retryable failures (issue 11 item 6)', () => {
  const SECRET = newWebhookSecret();
  let t: TestApp;
  let sql: Sql;
  let auth: string;

  beforeAll(async () => {
    // No provider is called here: the dispatcher is off and the tests read what is due.
    t = await startTestApp({ PROVIDER_WEBHOOK_SECRETS: SECRET });
    auth = `Bearer ${(await t.createClient(['*'])).apiKey}`;
    sql = sqlOn(t.databaseUrl);
  });

  afterAll(async () => {
    await sql?.close();
    await t?.close();
  });

  /** A recharge of 49.99 CNY awaiting the provider's answer. */
  const awaiting = (state: 'SUBMITTED' | 'PENDING_CONFIRMATION' = 'PENDING_CONFIRMATION') =>
    awaitedRecharge(t, sql, auth, { state });

  const dataFor = (r: AwaitedRecharge, overrides: NotificationData = {}): NotificationData => ({
    OutBizId: r.id,
    OwnerId: r.accountId,
    Amount: '49.99',
    Currency: 'CNY',
    ...overrides,
  });
  const deliver = (type: string, data: NotificationData) => {
    const body = JSON.stringify(providerEvent(type, data));
    return t.http
      .post('/webhooks/alibaba-cloud')
      .set(signatureHeaders(SECRET, body, newWebhookId(), new Date()))
      .set('Content-Type', 'application/cloudevents+json')
      .send(body);
  };
  const row = async (id: string) =>
    (
      await sql<{
        state: string;
        failure_code: string | null;
        due_now: boolean;
        next_attempt_at: Date | null;
        lease_until: Date | null;
      }>(
        `SELECT state, failure_code, next_attempt_at <= now() AS due_now, next_attempt_at, lease_until
         FROM recharges WHERE id = $1`,
        [id],
      )
    )[0]!;
  const inbox = (id: string) =>
    sql<{ type: string; failure_code: string | null; result: string | null }>(
      'SELECT type, failure_code, result FROM provider_notifications WHERE out_biz_id = $1',
      [id],
    );
  const ledger = async (id: string) =>
    Number((await sql<{ n: string }>('SELECT count(*) AS n FROM ledger_entries WHERE recharge_id = $1', [id]))[0]!.n);

  describe('type and data.Status must agree: 400 INVALID_ARGUMENT naming data.Status, nothing stored', () => {
    it.each([
      ['Succeeded', 'FAILED'],
      ['Succeeded', 'CANCELED'],
      ['Failed', 'SUCCEEDED'],
      ['Failed', 'CANCELED'],
      ['Canceled', 'SUCCEEDED'],
      ['Canceled', 'FAILED'],
    ])('item 6: a signed %s with Status %s is refused; the recharge is untouched', async (type, status) => {
      const r = await awaiting('SUBMITTED');
      const before = (await t.http.get('/metrics')).text;

      const res = await deliver(type, dataFor(r, { Status: status }));

      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.body).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
      expect(res.body.errors).toEqual([{ field: 'data.Status', message: expect.stringContaining(type.toUpperCase()) }]);
      expect(await inbox(r.id)).toEqual([]);
      expect(await row(r.id)).toMatchObject({ state: 'SUBMITTED', failure_code: null, due_now: false });
      expect(await ledger(r.id)).toBe(0);
      const after = (await t.http.get('/metrics')).text;
      expect(
        metricValue(after, 'webhook_events_total', { result: 'malformed' }) -
          metricValue(before, 'webhook_events_total', { result: 'malformed' }),
      ).toBe(1);
    });
  });

  describe('a Failed the provider would retry is stored and re-drives the recharge', () => {
    it.each(['InternalError', '-1101', 'CreditInnerError', 'UndefinedError', 'Throttling.User'])(
      'item 6: Failed with FailureCode %s → 200 redriven, kept in the inbox; the recharge stays open and is due now (same OutBizId), nothing failed',
      async (code) => {
        const r = await awaiting();
        const res = await deliver('Failed', dataFor(r, { FailureCode: code }));

        expect(res.status).toBe(200);
        expect(res.body).toEqual({ received: true, result: 'redriven' });
        expect(await inbox(r.id)).toEqual([{ type: 'bss:Recharge:Failed', failure_code: code, result: 'redriven' }]);
        expect(await row(r.id)).toMatchObject({ state: 'PENDING_CONFIRMATION', failure_code: null, due_now: true });
        const shown = (await t.http.get(`/v1/recharges/${r.id}`).set('Authorization', auth)).body;
        expect(shown).toMatchObject({ status: 'in_progress', failure: null });
        expect(shown.message).toContain(code);
        // The dispatcher's claim picks it up now: it is sent again, and only ever as this recharge's id.
        const now = new Date();
        const claimed = await t.app
          .get(RechargeRepository)
          .claimDue(100, now, new Date(now.getTime() + 60_000))
          .then((c) => c.map((x) => x.id));
        expect(claimed).toContain(r.id);
      },
    );

    it('item 6: while a replica holds the recharge (a send under way), the retryable Failed leaves its lease alone', async () => {
      const r = await awaiting('SUBMITTED');
      // Held by a replica (parked, so taken the way an operator's re-drive takes it).
      const now = new Date();
      const held = await t.app.get(RechargeRepository).claimOne(r.id, now, new Date(now.getTime() + 60_000));
      expect(held).not.toBeNull();
      const leased = await row(r.id);

      const res = await deliver('Failed', dataFor(r, { FailureCode: 'InternalError' }));

      expect(res.body).toEqual({ received: true, result: 'redriven' });
      expect(await row(r.id)).toMatchObject({
        state: 'SUBMITTED',
        due_now: false,
        next_attempt_at: leased.next_attempt_at,
        lease_until: leased.lease_until,
      });
    });

    it('a Failed with a definitive code still ends the recharge (FAILED, PROVIDER_REJECTED)', async () => {
      const r = await awaiting('SUBMITTED');
      const res = await deliver('Failed', dataFor(r, { FailureCode: 'NotAuthorized' }));
      expect(res.body).toEqual({ received: true, result: 'applied' });
      expect(await row(r.id)).toMatchObject({ state: 'FAILED', failure_code: 'PROVIDER_REJECTED' });
    });

    it('a retryable Failed after SUCCEEDED changes nothing (ignored)', async () => {
      const r = await awaiting();
      expect((await deliver('Succeeded', dataFor(r))).body).toEqual({ received: true, result: 'applied' });
      const res = await deliver('Failed', dataFor(r, { FailureCode: 'InternalError' }));
      expect(res.body).toEqual({ received: true, result: 'ignored' });
      expect(await row(r.id)).toMatchObject({ state: 'SUCCEEDED', failure_code: null });
      expect(await ledger(r.id)).toBe(2);
    });
  });
});
