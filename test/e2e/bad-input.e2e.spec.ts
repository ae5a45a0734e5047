import { AddressInfo, connect } from 'node:net';
import { WaitSlots } from '../../src/api/wait-slots';
import { ClientRepository } from '../../src/clients/application/client.repository';
import { OpenApiAgent } from '../support/openapi-validator';
import { query } from '../support/database';
import { bearer, closeWriteCounters, newKey, PROBLEM_JSON, rechargeBody, writeCounts } from '../support/e2e-helpers';
import { sleep } from '../support/wait';
import { startTestApp, TestApp } from '../support/test-app';

type Req = ReturnType<OpenApiAgent['get']>;

interface BadCase {
  name: string;
  send: (http: OpenApiAgent, auth: string) => Req;
  status: number;
  code: string;
  /** The distinct `errors[].field` values, in order of first appearance; omit when no field applies. */
  fields?: string[];
}

const post = (http: OpenApiAgent, auth: string, body: unknown, key: string | null = newKey()) => {
  const req = http.post('/v1/recharges').set('Authorization', auth);
  if (key !== null) req.set('Idempotency-Key', key);
  return req.send(body as object);
};

const postRaw = (http: OpenApiAgent, auth: string, contentType: string, raw: string) =>
  http
    .post('/v1/recharges')
    .set('Authorization', auth)
    .set('Idempotency-Key', newKey())
    .set('Content-Type', contentType)
    .send(raw);

const create = (name: string, body: Record<string, unknown>, fields: string[]): BadCase => ({
  name,
  send: (http, auth) => post(http, auth, body),
  status: 400,
  code: 'INVALID_ARGUMENT',
  fields,
});

const get = (name: string, path: string, status: number, code: string, fields?: string[]): BadCase => ({
  name,
  send: (http, auth) => http.get(path).set('Authorization', auth),
  status,
  code,
  fields,
});

const metadataOf = (n: number, value = 'v') =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value]));

const CASES: BadCase[] = [
  // accountId
  create('missing accountId', rechargeBody({ accountId: undefined }), ['accountId']),
  create('accountId as a number', rechargeBody({ accountId: 1234567890 }), ['accountId']),
  create('accountId with letters', rechargeBody({ accountId: '12ab34' }), ['accountId']),
  create('accountId of 21 digits', rechargeBody({ accountId: '123456789012345678901' }), ['accountId']),
  create('accountId empty', rechargeBody({ accountId: '' }), ['accountId']),
  create('accountId with a sign', rechargeBody({ accountId: '-123' }), ['accountId']),
  create('accountId with surrounding spaces', rechargeBody({ accountId: ' 123 ' }), ['accountId']),
  // Issue 11 item 7: one spelling per account, or "0123" becomes a second ledger for account 123.
  create('item 7: accountId with a leading zero "0123"', rechargeBody({ accountId: '0123' }), ['accountId']),
  create('item 7: accountId "0"', rechargeBody({ accountId: '0' }), ['accountId']),
  create('item 7: accountId of 20 digits starting with 0', rechargeBody({ accountId: '01234567890123456789' }), [
    'accountId',
  ]),
  // amount
  create('amount 0', rechargeBody({ amount: 0 }), ['amount']),
  create('amount negative', rechargeBody({ amount: -100 }), ['amount']),
  create('amount 1.5', rechargeBody({ amount: 1.5 }), ['amount']),
  create('amount as the string "100"', rechargeBody({ amount: '100' }), ['amount']),
  create('amount above MAX_RECHARGE_AMOUNT', rechargeBody({ amount: 100000001 }), ['amount']),
  create('amount missing', rechargeBody({ amount: undefined }), ['amount']),
  create('amount null', rechargeBody({ amount: null }), ['amount']),
  create('amount true', rechargeBody({ amount: true }), ['amount']),
  {
    name: 'amount 1e20',
    send: (http, auth) => postRaw(http, auth, 'application/json', '{"accountId":"1","amount":1e20,"currency":"CNY"}'),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['amount'],
  },
  {
    name: 'amount 2^53 + 1 (unsafe integer)',
    send: (http, auth) =>
      postRaw(http, auth, 'application/json', '{"accountId":"1","amount":9007199254740993,"currency":"CNY"}'),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['amount'],
  },
  // currency
  create('currency EUR', rechargeBody({ currency: 'EUR' }), ['currency']),
  create('currency lower-case cny', rechargeBody({ currency: 'cny' }), ['currency']),
  create('currency missing', rechargeBody({ currency: undefined }), ['currency']),
  create('currency as a number', rechargeBody({ currency: 156 }), ['currency']),
  // orderReference
  create('orderReference of 129 characters', rechargeBody({ orderReference: 'r'.repeat(129) }), ['orderReference']),
  create('orderReference as a number', rechargeBody({ orderReference: 12345 }), ['orderReference']),
  // metadata
  create('metadata as an array', rechargeBody({ metadata: ['a', 'b'] }), ['metadata']),
  create('metadata with 21 keys', rechargeBody({ metadata: metadataOf(21) }), ['metadata']),
  create('metadata value of 501 characters', rechargeBody({ metadata: { note: 'x'.repeat(501) } }), ['metadata']),
  create('metadata value a number', rechargeBody({ metadata: { count: 3 } }), ['metadata']),
  create('metadata value an object', rechargeBody({ metadata: { nested: { a: '1' } } }), ['metadata']),
  create('metadata as a string', rechargeBody({ metadata: 'a=1' }), ['metadata']),
  // callbackUrl
  create('callbackUrl ftp://', rechargeBody({ callbackUrl: 'ftp://hooks.example.com/x' }), ['callbackUrl']),
  create('callbackUrl not a URL', rechargeBody({ callbackUrl: 'not a url' }), ['callbackUrl']),
  create('callbackUrl host not allowed', rechargeBody({ callbackUrl: 'https://evil.com/x' }), ['callbackUrl']),
  create(
    'callbackUrl host that only ends like a wildcard',
    rechargeBody({ callbackUrl: 'https://evilcallbacks.test/x' }),
    ['callbackUrl'],
  ),
  create(
    'callbackUrl allowed host as a prefix of another',
    rechargeBody({ callbackUrl: 'https://hooks.example.com.evil.com/x' }),
    ['callbackUrl'],
  ),
  create('callbackUrl as a number', rechargeBody({ callbackUrl: 42 }), ['callbackUrl']),
  // unknown fields
  create('unknown field', rechargeBody({ foo: 'bar' }), ['foo']),
  create('snake_case field', rechargeBody({ account_id: '1' }), ['account_id']),
  // idempotency key
  {
    name: 'missing Idempotency-Key (no header, no body field)',
    send: (http, auth) => post(http, auth, rechargeBody(), null),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['Idempotency-Key'],
  },
  {
    name: 'Idempotency-Key of 256 characters',
    send: (http, auth) => post(http, auth, rechargeBody(), 'k'.repeat(256)),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['Idempotency-Key'],
  },
  {
    name: 'Idempotency-Key with a space',
    send: (http, auth) => post(http, auth, rechargeBody(), 'my key'),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['Idempotency-Key'],
  },
  {
    name: 'Idempotency-Key with non-ASCII',
    send: (http, auth) => post(http, auth, rechargeBody(), 'cl\u00e9-1'),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['Idempotency-Key'],
  },
  {
    name: 'idempotencyKey body field with a space',
    send: (http, auth) => post(http, auth, rechargeBody({ idempotencyKey: 'my key' }), null),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['idempotencyKey'],
  },
  {
    name: 'idempotencyKey body field of 256 characters',
    send: (http, auth) => post(http, auth, rechargeBody({ idempotencyKey: 'k'.repeat(256) }), null),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['idempotencyKey'],
  },
  {
    name: 'idempotencyKey body field empty',
    send: (http, auth) => post(http, auth, rechargeBody({ idempotencyKey: '' }), null),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['idempotencyKey'],
  },
  // body shape and framing
  {
    name: 'body that is not JSON',
    send: (http, auth) => postRaw(http, auth, 'application/json', '{"a":'),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'JSON array body',
    send: (http, auth) => postRaw(http, auth, 'application/json', JSON.stringify([rechargeBody()])),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'JSON string body',
    send: (http, auth) => postRaw(http, auth, 'application/json', '"hello"'),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'JSON null body',
    send: (http, auth) => postRaw(http, auth, 'application/json', 'null'),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'empty body declared as JSON',
    send: (http, auth) => postRaw(http, auth, 'application/json', ''),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'no body at all',
    send: (http, auth) => http.post('/v1/recharges').set('Authorization', auth).set('Idempotency-Key', newKey()),
    status: 400,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'empty JSON object',
    send: (http, auth) => post(http, auth, {}),
    status: 400,
    code: 'INVALID_ARGUMENT',
    fields: ['accountId', 'amount', 'currency'],
  },
  {
    name: 'body over 64 KB',
    send: (http, auth) => post(http, auth, rechargeBody({ orderReference: 'x'.repeat(70 * 1024) })),
    status: 413,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'Content-Type text/plain',
    send: (http, auth) => postRaw(http, auth, 'text/plain', JSON.stringify(rechargeBody())),
    status: 415,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'Content-Type application/x-www-form-urlencoded',
    send: (http, auth) =>
      postRaw(http, auth, 'application/x-www-form-urlencoded', 'accountId=1&amount=100&currency=CNY'),
    status: 415,
    code: 'INVALID_ARGUMENT',
  },
  {
    name: 'Content-Type multipart/form-data',
    send: (http, auth) =>
      postRaw(
        http,
        auth,
        'multipart/form-data; boundary=x',
        '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--',
      ),
    status: 415,
    code: 'INVALID_ARGUMENT',
  },
  // list query
  get('list limit=0', '/v1/recharges?limit=0', 400, 'INVALID_ARGUMENT', ['limit']),
  get('list limit=101', '/v1/recharges?limit=101', 400, 'INVALID_ARGUMENT', ['limit']),
  get('list limit=abc', '/v1/recharges?limit=abc', 400, 'INVALID_ARGUMENT', ['limit']),
  get('list limit=1.5', '/v1/recharges?limit=1.5', 400, 'INVALID_ARGUMENT', ['limit']),
  get('list limit=-1', '/v1/recharges?limit=-1', 400, 'INVALID_ARGUMENT', ['limit']),
  get('list status=bogus', '/v1/recharges?status=bogus', 400, 'INVALID_ARGUMENT', ['status']),
  get('list status in upper case', '/v1/recharges?status=CREATED', 400, 'INVALID_ARGUMENT', ['status']),
  get('list cursor with forbidden characters', '/v1/recharges?cursor=not!a*cursor', 400, 'INVALID_ARGUMENT', [
    'cursor',
  ]),
  get(
    'list cursor that decodes to garbage',
    `/v1/recharges?cursor=${Buffer.from('garbage').toString('base64url')}`,
    400,
    'INVALID_ARGUMENT',
    ['cursor'],
  ),
  get(
    'list cursor of a ledger id',
    `/v1/recharges?cursor=${Buffer.from('led_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f').toString('base64url')}`,
    400,
    'INVALID_ARGUMENT',
    ['cursor'],
  ),
  get('list accountId=abc', '/v1/recharges?accountId=abc', 400, 'INVALID_ARGUMENT', ['accountId']),
  get('item 7: list accountId=0123 (leading zero)', '/v1/recharges?accountId=0123', 400, 'INVALID_ARGUMENT', [
    'accountId',
  ]),
  get('list unknown query parameter', '/v1/recharges?sort=asc', 400, 'INVALID_ARGUMENT', ['sort']),
  // ids and paths
  get('GET /v1/recharges/not-an-id', '/v1/recharges/not-an-id', 404, 'NOT_FOUND'),
  get('GET an unknown well-formed id', '/v1/recharges/rch_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f', 404, 'NOT_FOUND'),
  get('GET events of not-an-id', '/v1/recharges/not-an-id/events', 404, 'NOT_FOUND'),
  {
    name: 'cancel not-an-id',
    send: (http, auth) => http.post('/v1/recharges/not-an-id/cancel').set('Authorization', auth),
    status: 404,
    code: 'NOT_FOUND',
  },
  get('unknown route', '/v1/nope', 404, 'NOT_FOUND'),
  // accounts
  get('balance of account abc', '/v1/accounts/abc/balance', 400, 'INVALID_ARGUMENT', ['accountId']),
  get('balance of a 21-digit account', '/v1/accounts/123456789012345678901/balance', 400, 'INVALID_ARGUMENT', [
    'accountId',
  ]),
  get('ledger of account abc', '/v1/accounts/abc/ledger', 400, 'INVALID_ARGUMENT', ['accountId']),
  get('item 7: balance of account 0123 (leading zero)', '/v1/accounts/0123/balance', 400, 'INVALID_ARGUMENT', [
    'accountId',
  ]),
  get('item 7: ledger of account 0123 (leading zero)', '/v1/accounts/0123/ledger', 400, 'INVALID_ARGUMENT', [
    'accountId',
  ]),
  get('ledger limit=0', '/v1/accounts/123/ledger?limit=0', 400, 'INVALID_ARGUMENT', ['limit']),
  get('ledger limit=101', '/v1/accounts/123/ledger?limit=101', 400, 'INVALID_ARGUMENT', ['limit']),
  get(
    'ledger bad cursor',
    `/v1/accounts/123/ledger?cursor=${Buffer.from('rch_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f').toString('base64url')}`,
    400,
    'INVALID_ARGUMENT',
    ['cursor'],
  ),
];

const PROBLEM_MEMBERS = ['code', 'correlationId', 'detail', 'instance', 'status', 'title', 'type'];

describe('bad input is refused with problem+json and writes nothing', () => {
  let t: TestApp;
  let apiKey: string;
  let auth: string;

  beforeAll(async () => {
    t = await startTestApp();
    apiKey = (await t.createClient(['*'])).apiKey;
    auth = bearer(apiKey);
  });

  afterAll(async () => {
    await closeWriteCounters();
    await t?.close();
  });

  it('has at least 30 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const before = await writeCounts(t.databaseUrl);
    const res = await c.send(t.http, auth);

    expect(res.status).toBe(c.status);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.body.code).toBe(c.code);
    expect(res.body.status).toBe(c.status);
    expect(typeof res.body.type).toBe('string');
    expect(typeof res.body.title).toBe('string');
    expect(typeof res.body.detail).toBe('string');
    expect(typeof res.body.correlationId).toBe('string');
    expect(res.body.correlationId.length).toBeGreaterThan(0);
    expect(res.headers['x-request-id']).toBe(res.body.correlationId);
    if (c.fields) {
      expect(Object.keys(res.body).sort()).toEqual([...PROBLEM_MEMBERS, 'errors'].sort());
      const fields = [...new Set((res.body.errors as Array<{ field: string; message: string }>).map((e) => e.field))];
      expect(fields).toEqual(c.fields);
      for (const e of res.body.errors) {
        expect(Object.keys(e).sort()).toEqual(['field', 'message']);
        expect(typeof e.message).toBe('string');
        expect(e.message.length).toBeGreaterThan(0);
      }
    }
    expect(res.text).not.toContain(apiKey);
    expect(res.text).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack traces

    expect(await writeCounts(t.databaseUrl)).toEqual(before);
  });

  describe('boundaries that are accepted', () => {
    it.each<[string, Record<string, unknown>, string | undefined]>([
      ['amount equal to MAX_RECHARGE_AMOUNT', rechargeBody({ amount: 100000000 }), undefined],
      ['amount 1', rechargeBody({ amount: 1 }), undefined],
      ['accountId of 20 digits', rechargeBody({ accountId: '99999999999999999999' }), undefined],
      ['accountId of 1 digit', rechargeBody({ accountId: '7' }), undefined],
      ['accountId with zeros after the first digit', rechargeBody({ accountId: '10000000000000000000' }), undefined],
      ['orderReference of 128 characters', rechargeBody({ orderReference: 'r'.repeat(128) }), undefined],
      [
        'metadata with 20 keys of 500-character values',
        rechargeBody({ metadata: metadataOf(20, 'v'.repeat(500)) }),
        undefined,
      ],
      ['empty metadata', rechargeBody({ metadata: {} }), undefined],
      [
        'callbackUrl on an allowed host (http, port)',
        rechargeBody({ callbackUrl: 'http://hooks.example.com:8080/cb?x=1' }),
        undefined,
      ],
      ['callbackUrl on a wildcard host', rechargeBody({ callbackUrl: 'https://a.callbacks.test/x' }), undefined],
      ['Idempotency-Key of 255 visible ASCII characters', rechargeBody(), '!~'.repeat(127) + 'k'],
      ['Idempotency-Key of 1 character', rechargeBody(), 'z'],
    ])('%s → 202', async (_, body, key) => {
      const res = await post(t.http, auth, body, key ?? newKey());
      expect(res.status).toBe(202);
      expect(res.body.state).toBe('CREATED');
      expect(res.body.amount).toBe(body.amount);
      expect(res.body.accountId).toBe(body.accountId);
    });

    it('a body just under 64 KB is parsed (and then validated)', async () => {
      const res = await post(t.http, auth, rechargeBody({ foo: 'x'.repeat(60 * 1024) }));
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ field: 'foo', message: expect.any(String) }]);
    });

    it('application/json with a charset is accepted', async () => {
      const res = await postRaw(t.http, auth, 'application/json; charset=utf-8', JSON.stringify(rechargeBody()));
      expect(res.status).toBe(202);
    });
  });

  it('validation runs after authentication: bad input without a key is 401', async () => {
    const res = await t.http
      .post('/v1/recharges')
      .set('Idempotency-Key', newKey())
      .send(rechargeBody({ amount: -1 }));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('UNAUTHENTICATED');
  });

  it('an INTERNAL_ERROR (database table missing) does not leak internals and writes nothing', async () => {
    const ok = await post(t.http, auth, rechargeBody());
    expect(ok.status).toBe(202);
    await query(t.databaseUrl, 'ALTER TABLE recharge_events RENAME TO recharge_events_hidden');
    try {
      const before = await query<{ n: number }>(t.databaseUrl, 'SELECT count(*)::int AS n FROM recharges');
      const responses = [
        await t.http
          .get(`/v1/recharges/${ok.body.id}/events`)
          .set('Authorization', auth)
          .set('X-Request-Id', 'internal-1'),
        await post(t.http, auth, rechargeBody()).set('X-Request-Id', 'internal-2'),
      ];
      for (const [i, res] of responses.entries()) {
        expect(res.status).toBe(500);
        expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
        expect(Object.keys(res.body).sort()).toEqual(PROBLEM_MEMBERS);
        expect(res.body.code).toBe('INTERNAL_ERROR');
        expect(res.body.correlationId).toBe(`internal-${i + 1}`);
        expect(res.headers['x-request-id']).toBe(`internal-${i + 1}`);
        expect(res.text).not.toMatch(
          /recharge_events|relation "|\bselect |\binsert |postgres|mikro|stack|node_modules|\.ts:\d|\.js:\d/i,
        );
        expect(res.text).not.toContain(apiKey);
      }
      // the failed create was one statement: the recharge row was rolled back with its event
      expect(await query(t.databaseUrl, 'SELECT count(*)::int AS n FROM recharges')).toEqual(before);
    } finally {
      await query(t.databaseUrl, 'ALTER TABLE recharge_events_hidden RENAME TO recharge_events');
    }
    const events = await t.http.get(`/v1/recharges/${ok.body.id}/events`).set('Authorization', auth);
    expect(events.status).toBe(200);
    expect(events.body.data).toHaveLength(1);
  });
});

/**
 * Abuse: floods of unauthenticated requests, slow clients and piles of held `Prefer: wait`
 * requests are bounded; a list filtered on an account the client may not use is refused.
 */
describe('abuse is bounded', () => {
  let t: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    t = await startTestApp({
      AUTH_FAILURES_PER_MINUTE: '5',
      PREFER_WAIT_MAX_PER_CLIENT: '2',
      REQUEST_TIMEOUT_MS: '500',
    });
    await t.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await closeWriteCounters();
    await t?.close();
  });

  it('a request whose headers never finish is cut after REQUEST_TIMEOUT_MS', async () => {
    const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    expect(answer === '' || /^HTTP\/1\.1 408/.test(answer)).toBe(true);
  });

  it('a body that trickles in slower than REQUEST_TIMEOUT_MS is cut, nothing written', async () => {
    const before = await writeCounts(t.databaseUrl);
    const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.write(
      'POST /v1/recharges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a',
    );
    const timer = setInterval(() => socket.write(' '), 100);
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    clearInterval(timer);
    expect(answer === '' || /^HTTP\/1\.1 408/.test(answer)).toBe(true);
    expect(await writeCounts(t.databaseUrl)).toEqual(before);
  });

  it('Prefer: wait is held for at most PREFER_WAIT_MAX_PER_CLIENT requests per client; more are answered at once', async () => {
    const busy = await t.createClient(['*']);
    const other = await t.createClient(['*']);
    const created = await t.http
      .post('/v1/recharges')
      .set('Authorization', bearer(busy.apiKey))
      .set('Idempotency-Key', newKey())
      .send(rechargeBody());
    expect(created.status).toBe(202);
    const path = `/v1/recharges/${created.body.id}`;
    const wait = (apiKey: string) => t.http.get(path).set('Authorization', bearer(apiKey)).set('Prefer', 'wait=20');

    const held = [wait(busy.apiKey), wait(busy.apiKey)].map((r) => r.then((res) => res));
    const slots = t.app.get(WaitSlots);
    while (slots.inUse(busy.clientId) < 2) await sleep(10);

    const third = await wait(busy.apiKey);
    expect(third.status).toBe(200);
    expect(third.headers['preference-applied']).toBeUndefined();
    expect(third.body.state).toBe('CREATED');
    // The cap is per client: another client's wait is applied (it is for another recharge, not found → 404 first).
    const othersOwn = await t.http
      .post('/v1/recharges')
      .set('Authorization', bearer(other.apiKey))
      .set('Idempotency-Key', newKey())
      .send(rechargeBody());
    const otherWait = t.http
      .get(`/v1/recharges/${othersOwn.body.id}`)
      .set('Authorization', bearer(other.apiKey))
      .set('Prefer', 'wait=20')
      .then((res) => res);
    while (slots.inUse(other.clientId) < 1) await sleep(10);

    // Finishing the recharges releases the held requests.
    await t.http.post(`${path}/cancel`).set('Authorization', bearer(busy.apiKey)).expect(200);
    await t.http
      .post(`/v1/recharges/${othersOwn.body.id}/cancel`)
      .set('Authorization', bearer(other.apiKey))
      .expect(200);
    for (const res of [...(await Promise.all(held)), await otherWait]) {
      expect(res.status).toBe(200);
      expect(res.headers['preference-applied']).toBe('wait=20');
      expect(res.body.state).toBe('CANCELED');
    }
    expect(slots.inUse(busy.clientId)).toBe(0);
  });
  // Last: it leaves this app's test address over its failed-authentication budget.
  it('an address that keeps failing to authenticate gets 429 with Retry-After, not another lookup', async () => {
    const lookups = jest.spyOn(t.app.get(ClientRepository), 'findByApiKeyHash');
    const statuses: number[] = [];
    let limited: { status: number; headers: Record<string, string>; body: Record<string, unknown> } | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await t.http.get('/v1/recharges').set('Authorization', `Bearer rk_random_${i}_${newKey()}`);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    expect(lookups).toHaveBeenCalledTimes(5); // the 429s cost no query
    lookups.mockRestore();
    expect(limited!.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(limited!.body).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // While limited, even a missing key is 429: the address has spent its budget.
    const missing = await t.http.get('/v1/recharges');
    expect(missing.status).toBe(429);
  });
});

describe('authorization of list filters', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /v1/recharges?accountId=<an account the client may not use> → 403 UNAUTHORIZED (not an empty page)', async () => {
    const limited = await t.createClient(['111']);
    const res = await t.http.get('/v1/recharges?accountId=222').set('Authorization', bearer(limited.apiKey));
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.body).toMatchObject({ code: 'UNAUTHORIZED', status: 403 });
    const own = await t.http.get('/v1/recharges?accountId=111').set('Authorization', bearer(limited.apiKey));
    expect(own.status).toBe(200);
  });
});
