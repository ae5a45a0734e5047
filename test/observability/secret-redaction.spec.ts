import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { redactDeep, redactSecrets } from '../../libs/shared/redact';
import { newId } from '../../libs/shared/ids';
import { createLogger, PinoNestLogger, writePlainLogLine } from '../../src/observability/logging';
import { CallbackDelivery, CallbackOutbox } from '../../src/recharge/application/ports/callback-outbox';
import { NotificationInbox } from '../../src/recharge/application/ports/notification-inbox';
import { RechargeRepository } from '../../src/recharge/application/ports/recharge.repository';
import { ReconciliationRunLog } from '../../src/recharge/application/ports/reconciliation-run.log';
import { HttpCallbackSender } from '../../src/recharge/infrastructure/callbacks/http-callback.sender';
import { Sql, sqlOn } from '../support/confirmations';
import { newAccountId } from '../support/dispatcher-harness';
import { bearer, newKey, rechargeBody } from '../support/e2e-helpers';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * Every secret pattern the service can meet, fed through every logger and every stored error
 * column; none may come out. Each pattern is [label, text carrying it, the part that must vanish].
 */
const hex = () => randomBytes(12).toString('hex');
const PATTERNS: Array<[string, string, string]> = (() => {
  const apiKey = `rk_${randomBytes(32).toString('base64url')}`;
  const whsec = `whsec_${randomBytes(32).toString('base64')}`;
  const signature = `v1,${randomBytes(32).toString('base64')}`;
  const bearerToken = `tok${hex()}`;
  const urlPassword = `pw${hex()}`;
  const dbPassword = `db${hex()}`;
  const accessKeyId = `LTAI${hex()}`;
  const urlSignature = `sig${hex()}`;
  const accessKeySecret = `aks${hex()}`;
  const signedString = `sts${hex()}`;
  const queryToken = `qt${hex()}`;
  return [
    ['an API key', `key ${apiKey} was used`, apiKey.slice(3)],
    ['a webhook secret', `secret is ${whsec}`, whsec.slice(6)],
    ['a webhook signature', `webhook-signature ${signature}`, signature.slice(3)],
    ['a bearer token', `Authorization: Bearer ${bearerToken}`, bearerToken],
    ['URL user info', `fetch https://alice:${urlPassword}@hooks.example.com/cb failed`, urlPassword],
    ['a database URL', `connect postgres://recharge:${dbPassword}@db:5432/recharge refused`, dbPassword],
    [
      'a signed provider URL',
      `Throttling, URL: https://business.aliyuncs.com/?AccessKeyId=${accessKeyId}&Signature=${urlSignature}`,
      accessKeyId,
    ],
    ['a signed query without pop-core prefix', `GET https://x.example/?Signature=${urlSignature}`, urlSignature],
    ['a JSON access key secret', `{"AccessKeySecret":"${accessKeySecret}"}`, accessKeySecret],
    ['a string to sign', `SignatureDoesNotMatch: string to sign is: POST&%2F&${signedString}`, signedString],
    ['a URL query token', `callback https://hooks.example.com/cb?token=${queryToken} failed`, queryToken],
  ];
})();
const ALL = PATTERNS.map(([, text]) => text).join(' | ');
const expectClean = (output: string) => {
  for (const [label, , needle] of PATTERNS) {
    if (output.includes(needle)) throw new Error(`${label} leaked: ${output.slice(0, 2000)}`);
  }
};

/** The secret-named fields, at several depths. */
const nested = (secret: string) => ({
  apiKey: secret,
  password: secret,
  request: { headers: { authorization: secret, 'x-api-key': secret }, note: 'ok' },
  deep: { a: { b: { c: { d: { webhookSecret: secret, clientSecret: secret, accessKeySecret: secret } } } } },
  list: [{ token: secret }, { owner: { user: 'u', privateKey: secret } }],
});

describe('secrets never leave through a logger', () => {
  function capture() {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return { lines, logger: createLogger('trace', stream) };
  }

  it.each(PATTERNS)('pino: %s in the message, in plain fields, in errors', (_label, text, needle) => {
    const { lines, logger } = capture();
    logger.info(text);
    logger.warn({ note: text, nested: { deeper: { detail: text } } }, `failed: ${text}`);
    logger.error({ err: Object.assign(new Error(text), { url: text, data: { body: text } }) }, 'boom');
    logger.error({ context: { cause: new Error(text) } }, 'nested error');
    logger.info('format %s', text);
    expect(lines).toHaveLength(5);
    const out = lines.join('');
    expect(out).not.toContain(needle);
    expectClean(out);
  });

  it('pino: secret-named fields are blanked at every depth, other fields kept', () => {
    const { lines, logger } = capture();
    const secret = `s3cr3t-${hex()}`;
    logger.info(nested(secret), 'nested secrets');
    const line = JSON.parse(lines[0]);
    expect(lines[0]).not.toContain(secret);
    expect(line.apiKey).toBe('[redacted]');
    expect(line.deep.a.b.c.d.webhookSecret).toBe('[redacted]');
    expect(line.list[1].owner.privateKey).toBe('[redacted]');
    expect(line.list[1].owner.user).toBe('u');
    expect(line.request.note).toBe('ok');
  });

  it('pino: the secret names one level down (client.apiKey, an error carrying accessKeySecret…)', () => {
    const { lines, logger } = capture();
    const secret = `s3cr3t-${hex()}`;
    const names = ['apiKey', 'webhookSecret', 'accessKeySecret', 'accessKeyId', 'secret', 'password'];
    const holder = Object.fromEntries(names.map((n) => [n, secret]));
    const err = Object.assign(new Error('provider refused'), holder);
    logger.info({ client: { ...holder, name: 'acme' } }, 'one level down');
    logger.error({ err }, 'an error carrying credentials');
    logger.warn({ context: { err } }, 'the same error one level down');
    expect(lines).toHaveLength(3);
    expect(lines.join('')).not.toContain(secret);
    const first = JSON.parse(lines[0]);
    for (const n of names) expect(first.client[n]).toBe('[redacted]');
    expect(first.client.name).toBe('acme');
    expect(JSON.parse(lines[1]).err.message).toBe('provider refused');
  });

  it('the Nest logger over pino (what use cases and Nest itself call)', () => {
    const { lines, logger } = capture();
    const nest = new PinoNestLogger(logger);
    const secret = `s3cr3t-${hex()}`;
    nest.warn({ deliveryId: 'msg_1', error: ALL, ...nested(secret) }, `callback failed: ${ALL}`, 'Callbacks');
    nest.error(new Error(ALL));
    nest.error(`fatal ${ALL}`, `Error: ${ALL}\n    at x (/app/x.js:1:1)`, 'ExceptionsHandler');
    nest.log(ALL, 'Context');
    nest.debug({ nested: { password: secret } }, 'Context');
    const out = lines.join('');
    expect(lines).toHaveLength(5);
    expect(out).not.toContain(secret);
    expectClean(out);
  });

  it("Nest's Logger class routed to the pino logger (new Logger('Ctx').warn(...))", () => {
    const { lines, logger } = capture();
    Logger.overrideLogger(new PinoNestLogger(logger));
    try {
      new Logger('Reconcile').error({ err: new Error(ALL), runId: 'r1' }, `pass failed: ${ALL}`);
      new Logger('Callbacks').warn({ error: ALL }, 'failed');
    } finally {
      Logger.overrideLogger(false);
      Logger.overrideLogger(true as never);
    }
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expectClean(lines.join(''));
  });

  it('the start-up and migration log lines (before pino exists)', () => {
    const written: string[] = [];
    const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      writePlainLogLine('info', `database ${ALL}`);
      writePlainLogLine('warn', ALL);
      writePlainLogLine('error', ALL);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    expect(written).toHaveLength(3);
    expectClean(written.join(''));
  });

  it('redactDeep leaves the caller’s object untouched and survives cycles', () => {
    const original: Record<string, unknown> = { password: 'p', inner: { text: ALL } };
    original.self = original;
    const copy = redactDeep(original) as Record<string, unknown>;
    expect(original.password).toBe('p');
    expect((original.inner as { text: string }).text).toBe(ALL);
    expect(copy.self).toBe('[circular]');
    expectClean(JSON.stringify(copy));
  });

  it('redactSecrets keeps ordinary text and the useful part of a URL', () => {
    expect(redactSecrets('connect ECONNREFUSED 127.0.0.1:8080')).toBe('connect ECONNREFUSED 127.0.0.1:8080');
    expect(redactSecrets('POST https://alice:pw@hooks.example.com/cb')).toBe(
      'POST https://[redacted]@hooks.example.com/cb',
    );
  });
});

describe('secrets never reach a stored error column', () => {
  let t: TestApp;
  let sql: Sql;
  let apiKey: string;

  beforeAll(async () => {
    t = await startTestApp({ CALLBACK_ALLOWED_HOSTS: 'hooks.example.com' });
    sql = sqlOn(t.databaseUrl);
    apiKey = (await t.createClient(['*'])).apiKey;
  });
  afterAll(async () => {
    await sql?.close();
    await t?.close();
  });

  async function createRecharge(body: Record<string, unknown> = {}): Promise<string> {
    const res = await t.http
      .post('/v1/recharges')
      .set('Authorization', bearer(apiKey))
      .set('Idempotency-Key', newKey())
      .send(rechargeBody({ accountId: newAccountId(), ...body }));
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  it('callback_attempts.error and callback_deliveries.last_error (the outbox, whatever the sender says)', async () => {
    const id = await createRecharge({ callbackUrl: 'https://hooks.example.com/cb' });
    await t.http.post(`/v1/recharges/${id}/cancel`).set('Authorization', bearer(apiKey)).expect(200);
    const [{ id: deliveryId }] = await sql<{ id: string }>(
      'SELECT id FROM callback_deliveries WHERE recharge_id = $1',
      [id],
    );
    await t.app
      .get(CallbackOutbox)
      .recordAttempt(deliveryId, new Date(), { statusCode: null, latencyMs: 1, error: ALL }, false, new Date());
    const rows = await sql('SELECT error FROM callback_attempts WHERE delivery_id = $1', [deliveryId]);
    const delivery = await sql('SELECT last_error FROM callback_deliveries WHERE id = $1', [deliveryId]);
    expect(rows).toHaveLength(1);
    expectClean(JSON.stringify(rows) + JSON.stringify(delivery));
  });

  it('the sender’s own errors (a resolver or connection error that echoes secrets)', async () => {
    const delivery: CallbackDelivery = {
      id: 'msg_x',
      rechargeId: 'rch_x',
      url: 'https://hooks.example.com/cb',
      eventType: 'recharge.canceled',
      payload: '{}',
      webhookSecret: `whsec_${randomBytes(32).toString('base64')}`,
      clientRevoked: false,
      attempts: 0,
      createdAt: new Date(),
    };
    const attempt = await new HttpCallbackSender({
      allowedHosts: ['hooks.example.com'],
      allowPrivateNetworks: false,
      resolve: async () => {
        throw new Error(ALL);
      },
    }).send(delivery, new Date());
    expect(attempt.error).toMatch(/^cannot resolve hooks\.example\.com/);
    expectClean(String(attempt.error));
  });

  it('recharges.message, recharges.failure_message and recharge_events.reason', async () => {
    const id = await createRecharge();
    const repo = t.app.get(RechargeRepository);
    await repo.mutate(id, (r) => r.scheduleNextAttempt(new Date(), new Date(), `retrying: ${ALL}`));
    let row = (await sql('SELECT message FROM recharges WHERE id = $1', [id]))[0];
    expectClean(JSON.stringify(row));
    await repo.mutate(id, (r) => r.submit('dispatcher', new Date()));
    await repo.mutate(id, (r) => r.reject('NotAuthorized', ALL, 'dispatcher', new Date()));
    row = (await sql('SELECT state, message, failure_message FROM recharges WHERE id = $1', [id]))[0];
    expect(row.state).toBe('FAILED');
    const events = await sql('SELECT reason FROM recharge_events WHERE recharge_id = $1', [id]);
    expect(events.length).toBeGreaterThanOrEqual(3);
    expectClean(JSON.stringify(row) + JSON.stringify(events));
  });

  it('reconciliation_runs.error', async () => {
    const runs = t.app.get(ReconciliationRunLog);
    const runId = newId('rec');
    await runs.start(runId, new Date());
    const zero = {
      redriven: 0,
      expired: 0,
      notificationsApplied: 0,
      orphansMatched: 0,
      orphansOpen: 0,
      discrepancies: 0,
    };
    await runs.finish(runId, new Date(), 'failed', zero, ALL);
    const rows = await sql('SELECT error FROM reconciliation_runs WHERE id = $1', [runId]);
    expect(rows).toHaveLength(1);
    expectClean(JSON.stringify(rows));
  });

  it('provider_notifications.detail', async () => {
    const inbox = t.app.get(NotificationInbox);
    const webhookId = `msg_${hex()}`;
    await inbox.store(
      {
        webhookId,
        eventId: `evt_${hex()}`,
        type: 'bss:Recharge:Succeeded',
        outBizId: 'rch_unknown',
        ownerId: '1',
        amount: '1.00',
        currency: 'CNY',
        transactionNumber: null,
        failureCode: null,
        receivedAt: new Date(),
      },
      {},
    );
    await inbox.complete(webhookId, 'ignored', ALL, new Date());
    const rows = await sql('SELECT detail FROM provider_notifications WHERE webhook_id = $1', [webhookId]);
    expect(rows).toHaveLength(1);
    expectClean(JSON.stringify(rows));
  });

  it('discrepancies.evidence (written with the recharge change that found it)', async () => {
    const id = await createRecharge();
    const repo = t.app.get(RechargeRepository);
    await repo.mutate(id, (r) =>
      r.noteDiscrepancy('notification_mismatch', { note: ALL, ...nested('zz-top') }, new Date()),
    );
    const rows = await sql('SELECT evidence FROM discrepancies WHERE recharge_id = $1', [id]);
    expect(rows).toHaveLength(1);
    expectClean(JSON.stringify(rows));
  });
});
