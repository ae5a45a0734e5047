import { DeliverCallbacksUseCase } from '../../../src/recharge/application/deliver-callbacks.use-case';
import { CallbackDelivery, CallbackOutbox } from '../../../src/recharge/application/ports/callback-outbox';
import { RechargeRepository } from '../../../src/recharge/application/ports/recharge.repository';
import { CallbackReceiver, Sql, sqlOn, startCallbackReceiver } from '../../support/confirmations';
import { newAccountId } from '../../support/dispatcher-harness';
import { newKey } from '../../support/e2e-helpers';
import { sleep } from '../../support/wait';
import { startTestApp, startTestAppOn, TestApp } from '../../support/test-app';

/**
 * Callbacks of one recharge in order (issue 11 item 10), on a real PostgreSQL shared by two
 * application instances (replicas): a waiting older callback is superseded by a newer one, and a
 * newer one never leaves while an older one of the same recharge is on the wire.
 */
describe('callbacks in order per recharge (issue 11 item 10)', () => {
  const env = {
    CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
    CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    CALLBACK_RETRY_BASE_MS: '100',
  };
  let receiver: CallbackReceiver;
  let a: TestApp;
  let b: TestApp;
  let sql: Sql;
  let auth: string;

  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    a = await startTestApp(env);
    b = await startTestAppOn(a.databaseUrl, env);
    auth = `Bearer ${(await a.createClient(['*'])).apiKey}`;
    sql = sqlOn(a.databaseUrl);
  });

  afterAll(async () => {
    await sql?.close();
    await b?.close();
    await a?.close();
    await receiver?.close();
  });

  beforeEach(() => {
    receiver.received.length = 0;
    receiver.script();
  });

  const deliveries = (rechargeId: string) =>
    sql<{ id: string; event_type: string; status: string; attempts: number; superseded_by: string | null }>(
      `SELECT id, event_type, status, attempts, superseded_by FROM callback_deliveries WHERE recharge_id = $1
       ORDER BY created_at, id`,
      [rechargeId],
    );
  const received = () => receiver.received.map((r) => `${JSON.parse(r.body).type} ${r.status}`);
  const claim = (app: TestApp, rechargeId: string): Promise<CallbackDelivery[]> => {
    const now = new Date();
    return app.app
      .get(CallbackOutbox)
      .claimDue(16, now, new Date(now.getTime() + 60_000))
      .then((due) => due.filter((d) => d.rechargeId === rechargeId));
  };

  /** A recharge with a callbackUrl that ended FAILED/TIMEOUT: a `recharge.failed` callback is queued. */
  async function timedOut(): Promise<string> {
    const res = await a.http
      .post('/v1/recharges')
      .set('Authorization', auth)
      .set('Idempotency-Key', newKey())
      .send({ accountId: newAccountId(), amount: 4999, currency: 'CNY', callbackUrl: `${receiver.url}/hooks/order` });
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    await sql(
      `UPDATE recharges SET state = 'PENDING_CONFIRMATION', submitted_at = now() - interval '2 hours', attempts = 1,
         next_attempt_at = now() + interval '1 hour' WHERE id = $1`,
      [id],
    );
    await a.app.get(RechargeRepository).mutate(id, (r) => r.expire('reconciliation', new Date()));
    expect((await deliveries(id)).map((d) => [d.event_type, d.status])).toEqual([['recharge.failed', 'pending']]);
    return id;
  }

  /** The provider proves success after our TIMEOUT: FAILED → SUCCEEDED, a `recharge.succeeded` callback is queued. */
  const corrected = (app: TestApp, id: string) =>
    app.app
      .get(RechargeRepository)
      .mutate(id, (r) =>
        r.applyProviderReport(
          { status: 'SUCCEEDED', providerReference: 'TXN-LATE', failureCode: null },
          'reconciliation',
          new Date(),
        ),
      );

  it('item 10: a recharge.failed (TIMEOUT) waiting for its retry is superseded by the corrected recharge.succeeded, which is the last thing the receiver gets', async () => {
    receiver.script(500);
    const id = await timedOut();
    expect(await a.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(1);
    expect(received()).toEqual(['recharge.failed 500']);

    await corrected(a, id);
    const [failed, succeeded] = await deliveries(id);
    expect(failed).toMatchObject({ event_type: 'recharge.failed', status: 'superseded', attempts: 1 });
    expect(succeeded).toMatchObject({ event_type: 'recharge.succeeded', status: 'pending', attempts: 0 });
    expect(failed!.superseded_by).toBe(succeeded!.id);

    // Past the failed one's retry time, both replicas keep delivering until nothing is due.
    await sleep(250);
    for (let i = 0; i < 4; i++) {
      await Promise.all([b, a].map((app) => app.app.get(DeliverCallbacksUseCase).deliverDue(16)));
      await sleep(150);
    }
    expect(received()).toEqual(['recharge.failed 500', 'recharge.succeeded 200']);
    expect((await deliveries(id)).map((d) => [d.event_type, d.status])).toEqual([
      ['recharge.failed', 'superseded'],
      ['recharge.succeeded', 'delivered'],
    ]);
  });

  it('item 10: while the older callback is on the wire at one replica, no replica claims the newer one; it leaves once the older attempt is recorded (database-enforced)', async () => {
    const id = await timedOut();
    const [older] = await claim(a, id);
    expect(older).toMatchObject({ eventType: 'recharge.failed' });

    await corrected(b, id);
    // The newer callback is due, but the older one is leased (being sent): neither replica takes it.
    expect(await claim(b, id)).toEqual([]);
    expect(await claim(a, id)).toEqual([]);

    // The older attempt fails: it is not retried (superseded), and only now the newer one may leave.
    const status = await a.app
      .get(CallbackOutbox)
      .recordAttempt(older!.id, new Date(), { statusCode: 503, latencyMs: 5, error: 'HTTP 503' }, false, new Date());
    expect(status).toBe('superseded');
    const [newer] = await claim(b, id);
    expect(newer).toMatchObject({ eventType: 'recharge.succeeded' });
    expect(await claim(a, id)).toEqual([]);
    await b.app
      .get(CallbackOutbox)
      .recordAttempt(newer!.id, new Date(), { statusCode: 200, latencyMs: 5, error: null }, true, null);
    expect((await deliveries(id)).map((d) => [d.event_type, d.status, d.attempts])).toEqual([
      ['recharge.failed', 'superseded', 1],
      ['recharge.succeeded', 'delivered', 1],
    ]);
    // Nothing of this recharge is ever due again.
    await sleep(150);
    expect(await claim(a, id)).toEqual([]);
  });

  it('an older callback delivered while being superseded counts as delivered; a lease that ran out (its replica died) holds nothing back', async () => {
    const id = await timedOut();
    const [older] = await claim(a, id);
    await corrected(a, id);
    expect(await claim(b, id)).toEqual([]);
    // The replica sending the older one dies: its lease runs out (moved into the past here).
    await sql(`UPDATE callback_deliveries SET leased_until = now() - interval '1 second' WHERE id = $1`, [older!.id]);
    const [newer] = await claim(b, id);
    expect(newer).toMatchObject({ eventType: 'recharge.succeeded' });
    const status = await a.app
      .get(CallbackOutbox)
      .recordAttempt(older!.id, new Date(), { statusCode: 200, latencyMs: 5, error: null }, true, null);
    expect(status).toBe('delivered');
  });

  it('at most one waiting callback per recharge is a database rule', async () => {
    const id = await timedOut();
    await expect(
      sql(
        `INSERT INTO callback_deliveries (id, recharge_id, client_id, url, event_type, payload, status, attempts, next_attempt_at, created_at)
         SELECT 'msg_second', recharge_id, client_id, url, 'recharge.succeeded', payload, 'pending', 0, now(), now()
         FROM callback_deliveries WHERE recharge_id = $1`,
        [id],
      ),
    ).rejects.toThrow(/callback_deliveries_one_pending_per_recharge/);
  });
});
