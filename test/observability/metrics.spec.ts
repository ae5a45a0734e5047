import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { BssSimulator, createBssSimulator } from '../../libs/bss-simulator';
import { ReconcileUseCase } from '../../src/recharge/application/reconcile.use-case';
import { startTestApp, TestApp } from '../support/test-app';
import { waitFor } from '../support/wait';

/**
 * GET /metrics serves every metric docs/operations.md names. prom-client prints `# HELP` and
 * `# TYPE` for every registered metric from the start; a labelled counter or histogram only gets
 * sample lines once something is observed with those labels, so the suite first checks the
 * declarations on a fresh instance, then drives each path once (a POST dispatched to the simulator,
 * a callback delivery, signed and unsigned webhooks, a reconciliation pass) and checks the samples.
 */

const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

const CONTRACT_METRICS: Array<[name: string, type: 'counter' | 'gauge' | 'histogram']> = [
  ['recharge_requests_total', 'counter'],
  ['recharge_transitions_total', 'counter'],
  ['provider_requests_total', 'counter'],
  ['provider_request_duration_seconds', 'histogram'],
  ['webhook_events_total', 'counter'],
  ['recharge_confirmation_seconds', 'histogram'],
  ['recharges_pending_beyond_sla', 'gauge'],
  ['provider_circuit_state', 'gauge'],
  ['callback_deliveries_total', 'counter'],
  ['reconciliation_runs_total', 'counter'],
];
const PROCESS_METRICS: Array<[string, string]> = [
  ['process_resident_memory_bytes', 'gauge'],
  ['process_cpu_seconds_total', 'counter'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
  ['nodejs_heap_size_used_bytes', 'gauge'],
];

let t: TestApp;
let sim: BssSimulator;
let receiver: Server;
let callbacks = 0;

/** The value of one sample line, e.g. sample(text, 'provider_requests_total{action="X",outcome="succeeded"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(): Promise<string> {
  const res = await t.http.get('/metrics').expect(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return res.text;
}

beforeAll(async () => {
  sim = await createBssSimulator({ port: 0 });
  receiver = createServer((req, res) => {
    req.resume();
    callbacks += 1;
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t = await startTestApp({
    DISPATCHER_ENABLED: 'true',
    PROVIDER: 'simulator',
    ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
    PROVIDER_WEBHOOK_SECRETS: WEBHOOK_SECRET,
    CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
    CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    SHUTDOWN_GRACE_MS: '2000',
  });
});

afterAll(async () => {
  await t?.close();
  await sim?.close();
  await new Promise((r) => receiver?.close(r));
});

it('declares every contract metric (HELP and TYPE) and the process metrics before any traffic', async () => {
  const text = await scrape();
  for (const [name, type] of [...CONTRACT_METRICS, ...PROCESS_METRICS]) {
    expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, 'm'));
    expect(text).toContain(`\n# TYPE ${name} ${type}\n`);
  }
  // Unlabelled metrics have a value from the start; the circuit starts closed (0).
  expect(sample(text, 'provider_circuit_state')).toBe(0);
  expect(sample(text, 'recharges_pending_beyond_sla')).toBe(0);
  expect(sample(text, 'recharge_confirmation_seconds_count')).toBe(0);
  expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
});

it('counts each path once it is used, with the contract labels', async () => {
  const { apiKey } = await t.createClient();
  const auth = `Bearer ${apiKey}`;

  // A recharge, dispatched to the simulator, confirmed, then its callback delivered.
  const created = await t.http
    .post('/v1/recharges')
    .set('Authorization', auth)
    .set('Idempotency-Key', 'metrics-1')
    .set('Prefer', 'wait=10')
    .send({
      accountId: '1234567890123456',
      amount: 4999,
      currency: 'CNY',
      callbackUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cb`,
    })
    .expect(202);
  expect(created.body.state).toBe('SUCCEEDED');
  // An idempotent replay and a key reused for another request count under their own outcomes.
  await t.http
    .post('/v1/recharges')
    .set('Authorization', auth)
    .set('Idempotency-Key', 'metrics-1')
    .send({
      accountId: '1234567890123456',
      amount: 4999,
      currency: 'CNY',
      callbackUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cb`,
    })
    .expect(200);
  await t.http
    .post('/v1/recharges')
    .set('Authorization', auth)
    .set('Idempotency-Key', 'metrics-1')
    .send({ accountId: '1234567890123456', amount: 1, currency: 'CNY' })
    .expect(422);
  // Refusals before the controller count too: no credentials, a body that fails validation, a form body.
  await t.http
    .post('/v1/recharges')
    .set('Idempotency-Key', 'metrics-2')
    .send({ accountId: '1234567890123456', amount: 1, currency: 'CNY' })
    .expect(401);
  await t.http
    .post('/v1/recharges')
    .set('Authorization', auth)
    .set('Idempotency-Key', 'metrics-3')
    .send({ accountId: 'x', amount: -1, currency: 'CNY' })
    .expect(400);
  await t.http
    .post('/v1/recharges')
    .set('Authorization', auth)
    .set('Idempotency-Key', 'metrics-4')
    .type('form')
    .send('amount=1')
    .expect(415);
  await waitFor(
    async () => callbacks > 0 && (sample(await scrape(), 'callback_deliveries_total{outcome="delivered"}') ?? 0) > 0,
    10_000,
    'the callback delivery to be counted',
    50,
  );

  // Provider notifications: one correctly signed (a duplicate confirmation), one not.
  const event = {
    specversion: '1.0',
    id: `evt_${randomBytes(8).toString('hex')}`,
    source: 'acs:bss',
    type: 'bss:Recharge:Succeeded',
    subject: created.body.id,
    datacontenttype: 'application/json',
    data: {
      OutBizId: created.body.id,
      OwnerId: '1234567890123456',
      Amount: '49.99',
      Currency: 'CNY',
      Status: 'SUCCEEDED',
      TransactionNumber: 'TX-metrics',
    },
  };
  const raw = JSON.stringify(event);
  const now = new Date();
  const headers = {
    'Content-Type': 'application/cloudevents+json',
    'webhook-id': event.id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
  };
  const accepted = await t.http
    .post('/webhooks/alibaba-cloud')
    .set(headers)
    .set('webhook-signature', new Webhook(WEBHOOK_SECRET).sign(event.id, now, raw))
    .send(raw)
    .expect(200);
  expect(accepted.body).toEqual({ received: true, result: expect.stringMatching(/^[a-z_]+$/) });
  await t.http
    .post('/webhooks/alibaba-cloud')
    .set(headers)
    .set('webhook-signature', `v1,${randomBytes(32).toString('base64')}`)
    .send(raw)
    .expect(401);

  // A reconciliation pass.
  const report = await t.app.get(ReconcileUseCase).runOnce();
  expect(report.outcome).toBe('succeeded');

  const text = await scrape();
  expect(sample(text, 'recharge_requests_total{outcome="created"}')).toBe(1);
  expect(sample(text, 'recharge_requests_total{outcome="replayed"}')).toBe(1);
  expect(sample(text, 'recharge_requests_total{outcome="duplicate_request"}')).toBe(1);
  expect(sample(text, 'recharge_requests_total{outcome="unauthenticated"}')).toBe(1);
  expect(sample(text, 'recharge_requests_total{outcome="invalid_argument"}')).toBe(2);
  expect(sample(text, 'recharge_requests_total{outcome="error"}')).toBeUndefined();
  expect(sample(text, 'recharge_transitions_total{from="none",to="CREATED"}')).toBe(1);
  expect(sample(text, 'recharge_transitions_total{from="CREATED",to="SUBMITTED"}')).toBe(1);
  expect(sample(text, 'recharge_transitions_total{from="SUBMITTED",to="SUCCEEDED"}')).toBe(1);
  expect(sample(text, 'provider_requests_total{action="ChangeResellerConsumeAmount",outcome="succeeded"}')).toBe(1);
  expect(sample(text, 'provider_request_duration_seconds_count{action="ChangeResellerConsumeAmount"}')).toBe(1);
  expect(sample(text, 'provider_request_duration_seconds_bucket{le="+Inf",action="ChangeResellerConsumeAmount"}')).toBe(
    1,
  );
  expect(sample(text, 'recharge_confirmation_seconds_count')).toBe(1);
  expect(sample(text, 'recharge_confirmation_seconds_bucket{le="+Inf"}')).toBe(1);
  expect(sample(text, 'callback_deliveries_total{outcome="delivered"}')).toBeGreaterThanOrEqual(1);
  expect(sample(text, `webhook_events_total{result="${accepted.body.result}"}`)).toBe(1);
  expect(sample(text, 'webhook_events_total{result="invalid_signature"}')).toBe(1);
  expect(sample(text, 'reconciliation_runs_total{outcome="succeeded"}')).toBe(1);
  expect(sample(text, 'recharges_pending_beyond_sla')).toBe(0);
  expect(sample(text, 'provider_circuit_state')).toBe(0);
  expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
});
