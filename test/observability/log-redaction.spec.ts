import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import RPCClient = require('@alicloud/pop-core');
import { BssSimulator, createBssSimulator } from '../../libs/bss-simulator';
import { createTestDatabase } from '../support/database';
import { createClientWithCli, ServiceProcessHandle, startCompiledService } from '../support/node-process';
import { compiledService } from '../support/private-build';
import { sleep } from '../support/wait';

/**
 * Secrets never reach the logs. The compiled service runs as its own process at the most verbose
 * log level, and every path that carries a credential is driven through it: a provider error whose
 * pop-core message echoes the server's string to sign (and would append the signed URL), other
 * provider errors (NotAuthorized, an HTML 503 page), API calls with good and bad bearer keys,
 * provider webhooks with good and bad signatures, and failing callbacks signed with the client's
 * webhook secret. Then all of stdout and stderr is searched for each secret.
 */

// The first suite of a run compiles the service (about 10 s, longer on a busy machine); the others reuse it.
const BUILD_AND_START_MS = 180_000;
const ACCESS_KEY_ID = 'sim-access-key-id';
// Distinctive, so a match anywhere in the output can only be a leak.
const WRONG_SECRET = `Wr0ngSecret-${randomBytes(9).toString('hex')}`;
const PROVIDER_WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const ACCOUNT_BAD_SIGNATURE = '1000000000000001';
const ACCOUNT_NOT_AUTHORIZED = '1000000000000002';
const ACCOUNT_HTML_503 = '1000000000000003';
const ACCOUNT_DROPPED = '1000000000000004';

let build: string;
let databaseUrl: string;
let rejecting: BssSimulator; // knows the real simulator secret: the service's requests fail the signature check
let faulty: BssSimulator; // knows the service's secret, and injects faults
let proxy: Server;
let callbackReceiver: Server;
let callbackHits = 0;
let service: ServiceProcessHandle | undefined;
let client: { clientId: string; apiKey: string; webhookSecret: string };

/** One endpoint for the service; a call is routed by its OwnerId, so one process sees every error kind. */
function routingProxy(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const owner =
        new URLSearchParams(body.toString('utf8')).get('OwnerId') ??
        new URL(req.url ?? '/', 'http://x').searchParams.get('OwnerId');
      const target = new URL(owner === ACCOUNT_BAD_SIGNATURE ? rejecting.url : faulty.url);
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function api(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(`${service!.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text };
}

beforeAll(async () => {
  build = compiledService();
  databaseUrl = await createTestDatabase();
  rejecting = await createBssSimulator({ port: 0 });
  faulty = await createBssSimulator({
    port: 0,
    credentials: [{ accessKeyId: ACCESS_KEY_ID, accessKeySecret: WRONG_SECRET }],
    faults: [
      { fault: 'notAuthorized', ownerId: ACCOUNT_NOT_AUTHORIZED },
      { fault: 'error5xx', html: true, ownerId: ACCOUNT_HTML_503, count: 2 },
      // Applied, but the connection drops: an unknown outcome, logged as "awaits confirmation: <reason>".
      { fault: 'applyThenDrop', ownerId: ACCOUNT_DROPPED, count: 1 },
    ],
  });
  proxy = await routingProxy();
  callbackReceiver = createServer((req, res) => {
    req.resume();
    callbackHits += 1;
    res.writeHead(500).end('no thanks');
  });
  await new Promise<void>((resolve) => callbackReceiver.listen(0, '127.0.0.1', resolve));

  // The operator's CLI creates the client (its output, which shows the key once, is not the service's).
  const [created, started] = await Promise.allSettled([
    createClientWithCli(build, databaseUrl),
    startCompiledService(build, {
      DATABASE_URL: databaseUrl,
      PROVIDER: 'simulator',
      ALIBABA_CLOUD_BSS_ENDPOINT: urlOf(proxy),
      ALIBABA_CLOUD_ACCESS_KEY_ID: ACCESS_KEY_ID,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: WRONG_SECRET,
      PROVIDER_WEBHOOK_SECRETS: PROVIDER_WEBHOOK_SECRET,
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
      CALLBACK_RETRY_BASE_MS: '50',
      LOG_LEVEL: 'trace',
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      SHUTDOWN_GRACE_MS: '2000',
    }),
  ]);
  if (started.status === 'fulfilled') service = started.value;
  if (created.status === 'rejected') throw created.reason;
  if (started.status === 'rejected') throw started.reason;
  client = created.value;
}, BUILD_AND_START_MS);

afterAll(async () => {
  await service?.kill();
  await Promise.all([rejecting, faulty].map((s) => s?.close()));
  await Promise.all([proxy, callbackReceiver].map((s) => s && new Promise((resolve) => s.close(resolve))));
});

it('the provider error used here really carries the string to sign and the signed URL (pop-core, unscrubbed)', async () => {
  const pop = new RPCClient({
    endpoint: rejecting.url,
    apiVersion: '2017-12-14',
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: WRONG_SECRET,
  });
  const params = {
    OwnerId: ACCOUNT_BAD_SIGNATURE,
    AdjustType: 'decrease',
    Amount: '1.00',
    Currency: 'CNY',
    OutBizId: 'probe',
  };
  const fail = (method: string) =>
    pop.request('ChangeResellerConsumeAmount', params, { method }).then(
      () => new Error('no error'),
      (e: Error) => e,
    );
  // What the service sends (POST): the server's string to sign, with the key id, nonce and every parameter.
  expect((await fail('POST')).message).toContain(
    'server string to sign is:POST&%2F&AccessKeyId%3Dsim-access-key-id%26Action',
  );
  // Sent as GET, the whole signed query follows ", URL:".
  expect((await fail('GET')).message).toMatch(
    /, URL: http:\/\/127\.0\.0\.1:\d+\/\?AccessKeyId=sim-access-key-id&.*Signature=/,
  );
});

it('logs recharge ids and provider codes, and no credential, signature or signed-URL parameter', async () => {
  const auth = { authorization: `Bearer ${client.apiKey}` };
  const post = (accountId: string, prefer = 'wait=10') =>
    api(
      'POST',
      '/v1/recharges',
      { ...auth, 'idempotency-key': `redaction-${accountId}`, prefer },
      {
        accountId,
        amount: 4999,
        currency: 'CNY',
        callbackUrl: `${urlOf(callbackReceiver)}/hooks/recharge`,
      },
    );

  // 1. A signature the provider rejects: its message carries the server's string to sign.
  const badSignature = await post(ACCOUNT_BAD_SIGNATURE);
  expect(badSignature.status).toBe(202);
  expect(badSignature.body).toMatchObject({
    state: 'FAILED',
    failure: { code: 'PROVIDER_REJECTED', providerCode: 'SignatureDoesNotMatch' },
  });

  // 2. NotAuthorized (rejected) and an HTML 503 page twice (retried, then applied).
  const notAuthorized = await post(ACCOUNT_NOT_AUTHORIZED);
  expect(notAuthorized.body).toMatchObject({ state: 'FAILED', failure: { providerCode: 'NotAuthorized' } });
  const html503 = await post(ACCOUNT_HTML_503);
  expect(html503.body).toMatchObject({ state: 'SUCCEEDED' });
  expect(faulty.credits().filter((c) => c.outBizId === html503.body.id)).toEqual([
    expect.objectContaining({ timesApplied: 1 }),
  ]);

  // An unknown outcome (connection dropped after the credit was applied) is logged with its reason.
  const dropped = await post(ACCOUNT_DROPPED, 'return=minimal');
  expect(dropped.status).toBe(202);
  await service!.waitForLine(new RegExp(`${dropped.body.id} awaits confirmation`), 10_000);

  // 3. What a caller reads back is scrubbed too.
  const read = await api('GET', `/v1/recharges/${badSignature.body.id}`, auth);
  expect(read.status).toBe(200);
  const failureMessage: string = read.body.failure.message;
  expect(failureMessage).toMatch(/signature/i);
  for (const leak of [
    'string to sign is:POST',
    'URL:',
    '?',
    'AccessKeyId',
    '%26',
    ACCESS_KEY_ID,
    'SignatureNonce%3D',
    'OutBizId%3D',
  ]) {
    expect(failureMessage).not.toContain(leak);
  }

  // 4. Bearer keys that do not authenticate: a plausible one and a garbled one.
  const forgedKey = `rk_${randomBytes(24).toString('base64url')}`;
  expect(
    (await api('GET', `/v1/recharges/${badSignature.body.id}`, { authorization: `Bearer ${forgedKey}` })).status,
  ).toBe(401);
  expect((await api('GET', '/v1/recharges', { authorization: `Bearer ${client.apiKey}x` })).status).toBe(401);

  // 5. Provider webhooks: one correctly signed (a duplicate confirmation), one with a forged signature.
  const event = {
    specversion: '1.0',
    id: `evt_${randomBytes(8).toString('hex')}`,
    source: 'acs:bss',
    type: 'bss:Recharge:Succeeded',
    time: new Date().toISOString(),
    subject: html503.body.id,
    datacontenttype: 'application/json',
    data: {
      OutBizId: html503.body.id,
      OwnerId: ACCOUNT_HTML_503,
      Amount: '49.99',
      Currency: 'CNY',
      Status: 'SUCCEEDED',
      TransactionNumber: 'TX-redaction',
    },
  };
  const raw = JSON.stringify(event);
  const now = new Date();
  const goodSignature = new Webhook(PROVIDER_WEBHOOK_SECRET).sign(event.id, now, raw);
  const webhookHeaders = {
    'content-type': 'application/cloudevents+json',
    'webhook-id': event.id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
  };
  const accepted = await api(
    'POST',
    '/webhooks/alibaba-cloud',
    { ...webhookHeaders, 'webhook-signature': goodSignature },
    raw,
  );
  expect(accepted.status).toBe(200);
  const forgedSignature = `v1,${randomBytes(32).toString('base64')}`;
  const refused = await api(
    'POST',
    '/webhooks/alibaba-cloud',
    { ...webhookHeaders, 'webhook-signature': forgedSignature },
    raw,
  );
  expect(refused.status).toBe(401);

  // 6. Callbacks signed with the client's webhook secret fail (HTTP 500) and are logged as failures.
  const deadline = Date.now() + 10_000;
  while (callbackHits < 3 && Date.now() < deadline) await sleep(50);
  expect(callbackHits).toBeGreaterThanOrEqual(3);

  // 7. Graceful stop, so everything the service meant to write is written.
  const stopped = service!.signal('SIGTERM');
  const exit = await service!.exited;
  expect(exit.code).toBe(0);
  expect(exit.at - stopped).toBeLessThan(10_000);

  const output = service!.output();
  // It did log what an operator needs...
  for (const id of [badSignature.body.id, notAuthorized.body.id, html503.body.id, dropped.body.id])
    expect(output).toContain(id);
  expect(output).toContain('SignatureDoesNotMatch');
  expect(output).toContain('NotAuthorized');
  // ...and none of these, anywhere in stdout or stderr.
  const secrets: Record<string, string> = {
    'API key': client.apiKey,
    'API key without its prefix': client.apiKey.slice(3),
    'forged API key': forgedKey.slice(3),
    'access key secret': WRONG_SECRET,
    'access key id': ACCESS_KEY_ID,
    "client's webhook secret": client.webhookSecret,
    "client's webhook secret (key part)": client.webhookSecret.slice('whsec_'.length),
    'provider webhook secret': PROVIDER_WEBHOOK_SECRET.slice('whsec_'.length),
    'good webhook-signature': goodSignature.slice('v1,'.length),
    'forged webhook-signature': forgedSignature.slice('v1,'.length),
    'signed parameter Signature=': 'Signature=',
    'signed parameter Signature%3D': 'Signature%3D',
    'signed parameter AccessKeyId=': 'AccessKeyId=sim',
    'signed parameter AccessKeyId%3D': 'AccessKeyId%3Dsim',
    'signed parameter SignatureNonce': 'SignatureNonce%3D',
    "server's string to sign": 'string to sign is:POST',
    'signed URL query': `${urlOf(proxy)}/?`,
  };
  const leaks = Object.entries(secrets).filter(([, value]) => output.includes(value));
  expect(leaks.map(([what]) => what)).toEqual([]);
});
