import { Logger } from '@nestjs/common';
import { Webhook } from 'standardwebhooks';
import { BssSimulator, createBssSimulator } from '../../../libs/bss-simulator';
import { Clock } from '../../../libs/shared/clock';
import {
  callbackRetryDelay,
  DeliverCallbacksUseCase,
  GIVE_UP_AFTER_MS,
  MAX_RETRY_DELAY_MS,
} from '../../../src/recharge/application/deliver-callbacks.use-case';
import { DispatchRechargeUseCase } from '../../../src/recharge/application/dispatch-recharge.use-case';
import {
  CallbackDelivery,
  CallbackOutbox,
  CallbackSender,
  DeliveryAttempt,
} from '../../../src/recharge/application/ports/callback-outbox';
import { RechargeTelemetry } from '../../../src/recharge/application/ports/recharge-telemetry';
import {
  CallbackReceiver,
  metricValue,
  ReceivedCallback,
  Sql,
  sqlOn,
  startCallbackReceiver,
} from '../../support/confirmations';
import { query } from '../../support/database';
import { newAccountId } from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';
import { newKey, PROBLEM_JSON } from '../../support/e2e-helpers';
import { startTestApp, TestApp } from '../../support/test-app';

/**
 * Callbacks out (docs/callbacks.md): the outbox row written with the final transition, delivered
 * to a local receiver signed with the client's webhook secret, retried under the same webhook-id
 * with exponential backoff, every attempt recorded.
 */
describe('callbacks (issue 4)', () => {
  let sim: BssSimulator;
  let receiver: CallbackReceiver;
  let t: TestApp;
  let sql: Sql;
  let auth: string;
  let webhookSecret: string;

  beforeAll(async () => {
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 1000 });
    receiver = await startCallbackReceiver();
    t = await startTestApp({
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1,localhost',
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
      CALLBACK_RETRY_BASE_MS: '100',
      PROVIDER: 'simulator',
      ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
      PROVIDER_MAX_RPS: '100',
    });
    const client = await t.createClient(['*']);
    auth = `Bearer ${client.apiKey}`;
    webhookSecret = client.webhookSecret;
    sql = sqlOn(t.databaseUrl);
  });

  afterAll(async () => {
    await sql?.close();
    await t?.close();
    await receiver?.close();
    await sim?.close();
  });

  beforeEach(() => {
    receiver.received.length = 0;
    receiver.script();
  });

  const create = (body: Record<string, unknown>) =>
    t.http.post('/v1/recharges').set('Authorization', auth).set('Idempotency-Key', newKey()).send(body);

  async function createWithCallback(path: string, amount = 4999): Promise<string> {
    const res = await create({
      accountId: newAccountId(),
      amount,
      currency: 'CNY',
      callbackUrl: `${receiver.url}${path}`,
    });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  const deliverDue = () => t.app.get(DeliverCallbacksUseCase).deliverDue(16);
  const representation = async (id: string) =>
    (await t.http.get(`/v1/recharges/${id}`).set('Authorization', auth)).body;
  const deliveries = (id: string) =>
    sql<{
      id: string;
      event_type: string;
      status: string;
      attempts: number;
      last_status_code: number | null;
      url: string;
    }>(
      'SELECT id, event_type, status, attempts, last_status_code, url FROM callback_deliveries WHERE recharge_id = $1',
      [id],
    );
  const attempts = (deliveryId: string) =>
    sql<{ status_code: number | null; attempted_at: Date; error: string | null }>(
      'SELECT status_code, attempted_at, error FROM callback_attempts WHERE delivery_id = $1 ORDER BY id',
      [deliveryId],
    );

  /** Verifies the Standard Webhooks signature with the client's secret, the way a receiver would. */
  function verified(cb: ReceivedCallback): Record<string, any> {
    const headers = {
      'webhook-id': String(cb.headers['webhook-id']),
      'webhook-timestamp': String(cb.headers['webhook-timestamp']),
      'webhook-signature': String(cb.headers['webhook-signature']),
    };
    return new Webhook(webhookSecret).verify(cb.body, headers) as Record<string, any>;
  }

  /** Claims the recharge now and sends it once, as the dispatcher would. */
  async function dispatchNow(id: string): Promise<void> {
    const dispatch = t.app.get(DispatchRechargeUseCase);
    const claim = await dispatch.claimOne(id);
    if (!claim) throw new Error(`recharge ${id} could not be claimed`);
    await dispatch.process(claim);
  }

  it('a recharge that succeeds → exactly one delivery: a signed CloudEvent recharge.succeeded carrying the representation', async () => {
    const id = await createWithCallback('/hooks/succeeded');
    // Nothing is due before the recharge is final.
    expect(await deliverDue()).toBe(0);
    expect(await deliveries(id)).toEqual([]);

    await dispatchNow(id);
    const [delivery] = await deliveries(id);
    expect(delivery).toMatchObject({
      event_type: 'recharge.succeeded',
      status: 'pending',
      attempts: 0,
      url: `${receiver.url}/hooks/succeeded`,
    });

    expect(await deliverDue()).toBe(1);

    expect(receiver.received).toHaveLength(1);
    const cb = receiver.received[0]!;
    expect(cb.url).toBe('/hooks/succeeded');
    expect(cb.headers['content-type']).toBe('application/json');
    expect(cb.headers['webhook-id']).toBe(delivery!.id);
    expect(Math.abs(Number(cb.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    const event = verified(cb);
    const current = await representation(id);
    expect(current.state).toBe('SUCCEEDED');
    expect(event).toEqual({
      specversion: '1.0',
      id: delivery!.id,
      source: 'alicloud-recharge',
      type: 'recharge.succeeded',
      subject: id,
      time: current.completedAt,
      datacontenttype: 'application/json',
      data: current,
    });
    // The wrong secret does not verify it.
    expect(() =>
      new Webhook(`whsec_${Buffer.from('not the secret').toString('base64')}`).verify(
        cb.body,
        cb.headers as Record<string, string>,
      ),
    ).toThrow();

    expect(await deliveries(id)).toEqual([
      expect.objectContaining({ status: 'delivered', attempts: 1, last_status_code: 200 }),
    ]);
    expect((await attempts(delivery!.id)).map((a) => a.status_code)).toEqual([200]);
    // Exactly one: nothing is due any more.
    expect(await deliverDue()).toBe(0);
    expect(receiver.received).toHaveLength(1);
  });

  it('receiver answers 500, 500, then 200 → delivered on the 3rd attempt, same webhook-id, backoff base × 2^(n−1), 3 attempts recorded', async () => {
    const metricsBefore = (await t.http.get('/metrics')).text;
    receiver.script(500, 500);
    const id = await createWithCallback('/hooks/flaky');
    await dispatchNow(id);

    await waitFor(
      async () => {
        await deliverDue();
        return receiver.received.some((r) => r.status === 200);
      },
      10_000,
      'the third attempt to succeed',
      20,
    );

    const [delivery] = await deliveries(id);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 200 });
    expect(receiver.received.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([delivery!.id]));
    // Every attempt is signed afresh and verifies; the event itself is the same bytes each time.
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
    for (const r of receiver.received)
      expect(verified(r)).toMatchObject({ id: delivery!.id, type: 'recharge.succeeded' });

    const rows = await attempts(delivery!.id);
    expect(rows.map((a) => a.status_code)).toEqual([500, 500, 200]);
    expect(rows.map((a) => a.error)).toEqual(['HTTP 500', 'HTTP 500', null]);
    // Retry 1 waits ≥ 100 ms (the base), retry 2 ≥ 200 ms.
    expect(rows[1]!.attempted_at.getTime() - rows[0]!.attempted_at.getTime()).toBeGreaterThanOrEqual(100);
    expect(rows[2]!.attempted_at.getTime() - rows[1]!.attempted_at.getTime()).toBeGreaterThanOrEqual(200);

    const metricsAfter = (await t.http.get('/metrics')).text;
    const delta = (outcome: string) =>
      metricValue(metricsAfter, 'callback_deliveries_total', { outcome }) -
      metricValue(metricsBefore, 'callback_deliveries_total', { outcome });
    expect([delta('retrying'), delta('delivered'), delta('gave_up')]).toEqual([2, 1, 0]);
  });

  it('a delivery still failing 24 h after its event is given up: status failed, the attempt recorded, no further tries', async () => {
    const metricsBefore = (await t.http.get('/metrics')).text;
    receiver.script(503);
    const id = await createWithCallback('/hooks/gone');
    await t.http.post(`/v1/recharges/${id}/cancel`).set('Authorization', auth).expect(200);
    await sql(`UPDATE callback_deliveries SET created_at = now() - interval '24 hours' WHERE recharge_id = $1`, [id]);

    expect(await deliverDue()).toBe(1);

    const [delivery] = await deliveries(id);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 503 });
    const [{ next_attempt_at }] = await sql<{ next_attempt_at: Date | null }>(
      'SELECT next_attempt_at FROM callback_deliveries WHERE id = $1',
      [delivery!.id],
    );
    expect(next_attempt_at).toBeNull();
    expect((await attempts(delivery!.id)).map((a) => a.status_code)).toEqual([503]);
    const metricsAfter = (await t.http.get('/metrics')).text;
    expect(
      metricValue(metricsAfter, 'callback_deliveries_total', { outcome: 'gave_up' }) -
        metricValue(metricsBefore, 'callback_deliveries_total', { outcome: 'gave_up' }),
    ).toBe(1);
    expect(await deliverDue()).toBe(0);
    expect(receiver.received).toHaveLength(1);
  });

  it('a canceled recharge → a recharge.canceled callback', async () => {
    const id = await createWithCallback('/hooks/canceled');
    const canceled = await t.http.post(`/v1/recharges/${id}/cancel`).set('Authorization', auth);
    expect(canceled.status).toBe(200);

    expect(await deliverDue()).toBe(1);

    expect(receiver.received).toHaveLength(1);
    const event = verified(receiver.received[0]!);
    expect(event).toMatchObject({ type: 'recharge.canceled', subject: id });
    expect(event.data).toEqual(await representation(id));
    expect(event.data).toMatchObject({ state: 'CANCELED', status: 'canceled', failure: { code: 'CANCELED' } });
    expect(await deliveries(id)).toEqual([
      expect.objectContaining({ event_type: 'recharge.canceled', status: 'delivered', attempts: 1 }),
    ]);
  });

  it('a recharge the provider rejects → a recharge.failed callback', async () => {
    sim.addFaults([{ fault: 'notAuthorized', count: 1 }]);
    const id = await createWithCallback('/hooks/failed');
    await dispatchNow(id);

    expect(await deliverDue()).toBe(1);

    const event = verified(receiver.received[0]!);
    expect(event).toMatchObject({ type: 'recharge.failed', subject: id });
    expect(event.data).toEqual(await representation(id));
    expect(event.data).toMatchObject({
      state: 'FAILED',
      failure: { code: 'PROVIDER_REJECTED', providerCode: 'NotAuthorized' },
    });
  });

  it('no callbackUrl → no delivery', async () => {
    const res = await create({ accountId: newAccountId(), amount: 100, currency: 'CNY' });
    await dispatchNow(res.body.id);
    expect((await representation(res.body.id)).state).toBe('SUCCEEDED');
    expect(await deliveries(res.body.id)).toEqual([]);
    expect(await deliverDue()).toBe(0);
  });

  it.each([
    ['a host outside CALLBACK_ALLOWED_HOSTS', 'https://evil.example.com/hook'],
    ['a look-alike of an allowed host', 'http://127.0.0.1.evil.example.com/hook'],
    ['a scheme other than http(s)', 'ftp://127.0.0.1/hook'],
  ])('callbackUrl with %s → 400 at POST time, nothing stored', async (_label, callbackUrl) => {
    const [{ n: before }] = await sql<{ n: string }>('SELECT count(*) AS n FROM recharges');
    const res = await create({ accountId: newAccountId(), amount: 100, currency: 'CNY', callbackUrl });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.body).toMatchObject({
      code: 'INVALID_ARGUMENT',
      errors: [expect.objectContaining({ field: 'callbackUrl' })],
    });
    const [{ n: after }] = await sql<{ n: string }>('SELECT count(*) AS n FROM recharges');
    expect(after).toBe(before);
  });

  it('an allowed host on any port is accepted', async () => {
    const res = await create({
      accountId: newAccountId(),
      amount: 100,
      currency: 'CNY',
      callbackUrl: 'http://localhost:1/any/path?x=1',
    });
    expect(res.status).toBe(202);
    expect(res.body.callbackUrl).toBe('http://localhost:1/any/path?x=1');
    await t.http.post(`/v1/recharges/${res.body.id}/cancel`).set('Authorization', auth).expect(200);
    // Its delivery fails (nothing listens on port 1) and is scheduled for a retry, not dropped.
    expect(await deliverDue()).toBe(1);
    expect(await deliveries(res.body.id)).toEqual([
      expect.objectContaining({ status: 'pending', attempts: 1, last_status_code: null }),
    ]);
    const [attempt] = await attempts((await deliveries(res.body.id))[0]!.id);
    expect(attempt).toMatchObject({ status_code: null, error: expect.stringMatching(/ECONNREFUSED|fetch failed/) });
    await sql(`UPDATE callback_deliveries SET status = 'failed', next_attempt_at = NULL WHERE recharge_id = $1`, [
      res.body.id,
    ]);
  });

  it('with workers enabled, the delivery worker sends the callback on its own', async () => {
    const workers = await startTestApp({
      DISPATCHER_ENABLED: 'true',
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
      PROVIDER: 'simulator',
      ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      SHUTDOWN_GRACE_MS: '1000',
    });
    try {
      // Its own database, client and recharge, driven only by its dispatcher and delivery worker.
      const client = await workers.createClient(['*']);
      const res = await workers.http
        .post('/v1/recharges')
        .set('Authorization', `Bearer ${client.apiKey}`)
        .set('Idempotency-Key', newKey())
        .set('Prefer', 'wait=10')
        .send({ accountId: newAccountId(), amount: 250, currency: 'USD', callbackUrl: `${receiver.url}/hooks/worker` });
      expect(res.body.state).toBe('SUCCEEDED');
      const cb = await waitFor(
        () => receiver.received.find((r) => r.url === '/hooks/worker'),
        10_000,
        'the worker to deliver',
      );
      const event = new Webhook(client.webhookSecret).verify(cb.body, cb.headers as Record<string, string>) as Record<
        string,
        any
      >;
      expect(event).toMatchObject({
        type: 'recharge.succeeded',
        subject: res.body.id,
        data: { id: res.body.id, state: 'SUCCEEDED', amount: 250, currency: 'USD' },
      });
      await waitFor(
        async () =>
          (
            await query<{ status: string }>(
              workers.databaseUrl,
              'SELECT status FROM callback_deliveries WHERE recharge_id = $1',
              [res.body.id],
            )
          )[0]?.status === 'delivered',
        5000,
        'the delivery to be recorded',
      );
    } finally {
      await workers.close();
    }
  });

  describe('the retry schedule', () => {
    it('callbackRetryDelay: base × 2^(n−1), capped at 4 h', () => {
      const base = 10_000;
      const delays = Array.from({ length: 14 }, (_, i) => callbackRetryDelay(i + 1, base) / 1000);
      expect(delays).toEqual([10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 14400, 14400, 14400]);
      expect(MAX_RETRY_DELAY_MS).toBe(4 * 3600_000);
      expect(GIVE_UP_AFTER_MS).toBe(24 * 3600_000);
      expect(callbackRetryDelay(1, 100)).toBe(100);
      expect(callbackRetryDelay(2, 100)).toBe(200);
    });

    it('with the default base (10 s) a never-answering receiver is tried 16 times over ~21.7 h, then given up (the 17th would pass 24 h)', async () => {
      const createdAt = new Date('2026-11-25T00:00:00Z');
      const clock = new (class extends Clock {
        at = createdAt.getTime();
        now = () => new Date(this.at);
      })();
      const outbox = new (class extends CallbackOutbox {
        delivery: CallbackDelivery = {
          id: 'msg_1',
          rechargeId: 'rch_1',
          url: 'https://hooks.example.com/x',
          eventType: 'recharge.succeeded',
          payload: '{}',
          webhookSecret: 'whsec_MTIz',
          clientRevoked: false,
          attempts: 0,
          createdAt,
        };
        status: 'pending' | 'delivered' | 'failed' = 'pending';
        next: Date | null = createdAt;
        attemptedAt: number[] = [];
        async claimDue(_limit: number, now: Date, leaseUntil: Date) {
          if (this.status !== 'pending' || !this.next || this.next > now) return [];
          this.next = leaseUntil;
          return [{ ...this.delivery }];
        }
        async recordAttempt(
          _id: string,
          at: Date,
          _a: DeliveryAttempt,
          delivered: boolean,
          nextAttemptAt: Date | null,
        ) {
          this.attemptedAt.push(at.getTime() - createdAt.getTime());
          this.delivery.attempts += 1;
          this.status = delivered ? 'delivered' : nextAttemptAt ? 'pending' : 'failed';
          this.next = nextAttemptAt;
          return this.status;
        }
      })();
      const sender = new (class extends CallbackSender {
        async send(): Promise<DeliveryAttempt> {
          return { statusCode: 503, latencyMs: 1, error: 'HTTP 503' };
        }
      })();
      const outcomes: string[] = [];
      const telemetry = { callbackDelivery: (o: string) => outcomes.push(o) } as unknown as RechargeTelemetry;
      Logger.overrideLogger(false);
      const useCase = new DeliverCallbacksUseCase(outbox, sender, { retryBaseMs: 10_000 }, telemetry, clock);

      while (outbox.status === 'pending') {
        clock.at = outbox.next!.getTime();
        expect(await useCase.deliverDue(16)).toBe(1);
      }

      const schedule = outbox.attemptedAt.map((ms) => ms / 1000);
      console.log(
        `callback retry schedule (base 10 s): attempts at ${schedule.map((s) => (s < 3600 ? `${s}s` : `${(s / 3600).toFixed(2)}h`)).join(', ')}; gave up after attempt ${schedule.length}`,
      );
      expect(schedule).toEqual([
        0, 10, 30, 70, 150, 310, 630, 1270, 2550, 5110, 10230, 20470, 34870, 49270, 63670, 78070,
      ]);
      expect(outbox.status).toBe('failed');
      expect(outcomes).toEqual([...Array(15).fill('retrying'), 'gave_up']);
      // About a day: the last try 21.7 h after the event; the next one (25.7 h) would be past 24 h.
      expect(schedule.at(-1)! / 3600).toBeCloseTo(21.69, 2);
      expect(schedule.at(-1)! + callbackRetryDelay(16, 10_000) / 1000).toBeGreaterThan(GIVE_UP_AFTER_MS / 1000);
    });
  });
});
