import { newId } from '../../libs/shared/ids';
import { query } from '../support/database';
import { bearer, newKey, PROBLEM_JSON, rechargeBody } from '../support/e2e-helpers';
import { startTestApp, TestApp } from '../support/test-app';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const RECHARGE_ID = /^rch_[0-9a-f]{32}$/;
const REPRESENTATION_FIELDS = [
  'id',
  'status',
  'state',
  'accountId',
  'amount',
  'currency',
  'orderReference',
  'metadata',
  'callbackUrl',
  'providerReference',
  'message',
  'failure',
  'createdAt',
  'updatedAt',
  'completedAt',
].sort();

describe('recharge API (happy paths, docs/api.md)', () => {
  let t: TestApp;
  let auth: string;
  let clientId: string;

  beforeAll(async () => {
    t = await startTestApp();
    const client = await t.createClient(['*']);
    auth = bearer(client.apiKey);
    clientId = client.clientId;
  });

  afterAll(async () => {
    await t?.close();
  });

  const create = (body: Record<string, unknown>, key = newKey()) =>
    t.http.post('/v1/recharges').set('Authorization', auth).set('Idempotency-Key', key).send(body);

  describe('POST /v1/recharges', () => {
    it('answers 202 with Location and the full representation; a 20-digit accountId is kept exact', async () => {
      const before = Date.now();
      const res = await create(
        rechargeBody({
          accountId: '12345678901234567890',
          amount: 4999,
          currency: 'USD',
          orderReference: 'order-42',
          metadata: { portal: 'billing', note: 'first' },
          callbackUrl: 'https://hooks.example.com/recharge',
        }),
      );
      expect(res.status).toBe(202);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(Object.keys(res.body).sort()).toEqual(REPRESENTATION_FIELDS);
      expect(res.body).toEqual({
        id: expect.stringMatching(RECHARGE_ID),
        status: 'accepted',
        state: 'CREATED',
        accountId: '12345678901234567890',
        amount: 4999,
        currency: 'USD',
        orderReference: 'order-42',
        metadata: { portal: 'billing', note: 'first' },
        callbackUrl: 'https://hooks.example.com/recharge',
        providerReference: null,
        message: null,
        failure: null,
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        completedAt: null,
      });
      expect(typeof res.body.accountId).toBe('string');
      expect(Number.isInteger(res.body.amount)).toBe(true);
      expect(res.headers.location).toBe(`/v1/recharges/${res.body.id}`);
      expect(res.headers['idempotent-replayed']).toBeUndefined();
      expect(Date.parse(res.body.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(res.text).toContain('"accountId":"12345678901234567890"');

      // durably stored before the response
      const rows = await query<{ account_id: string; amount: string; state: string; client_id: string }>(
        t.databaseUrl,
        'SELECT account_id, amount::text AS amount, state, client_id FROM recharges WHERE id = $1',
        [res.body.id],
      );
      expect(rows).toEqual([
        { account_id: '12345678901234567890', amount: '4999', state: 'CREATED', client_id: clientId },
      ]);
    });

    it('defaults optional fields to null / {}', async () => {
      const res = await create({ accountId: '7', amount: 1, currency: 'JPY' });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({
        accountId: '7',
        amount: 1,
        currency: 'JPY',
        orderReference: null,
        metadata: {},
        callbackUrl: null,
      });
    });

    it('accepts a callbackUrl whose host matches a wildcard of CALLBACK_ALLOWED_HOSTS (any port)', async () => {
      const res = await create(rechargeBody({ callbackUrl: 'https://a.callbacks.test:8443/x' }));
      expect(res.status).toBe(202);
      expect(res.body.callbackUrl).toBe('https://a.callbacks.test:8443/x');
    });
  });

  describe('POST with Prefer: wait', () => {
    it('holds a new recharge for about N seconds and answers 202 with Preference-Applied', async () => {
      const started = Date.now();
      const res = await create(rechargeBody()).set('Prefer', 'respond-async, wait=1');
      const elapsed = Date.now() - started;
      expect(res.status).toBe(202);
      expect(res.headers['preference-applied']).toBe('wait=1');
      expect(res.headers.location).toBe(`/v1/recharges/${res.body.id}`);
      expect(res.body.state).toBe('CREATED');
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThanOrEqual(2500);
    });
  });

  describe('GET /v1/recharges/{id}', () => {
    it('returns the stored recharge', async () => {
      const created = await create(rechargeBody({ accountId: '555', amount: 100, metadata: { k: 'v' } }));
      const res = await t.http.get(`/v1/recharges/${created.body.id}`).set('Authorization', auth);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(created.body);
      expect(res.headers['preference-applied']).toBeUndefined();
    });

    it('Prefer: wait=1 holds a CREATED recharge for about one second and says so', async () => {
      const created = await create(rechargeBody());
      const started = Date.now();
      const res = await t.http
        .get(`/v1/recharges/${created.body.id}`)
        .set('Authorization', auth)
        .set('Prefer', 'wait=1');
      const elapsed = Date.now() - started;
      expect(res.status).toBe(200);
      expect(res.headers['preference-applied']).toBe('wait=1');
      expect(res.body.state).toBe('CREATED');
      expect(res.body.status).toBe('accepted');
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThanOrEqual(2500);
    });

    it('Prefer: wait=99 is clamped to 30 and a final recharge answers at once', async () => {
      const created = await create(rechargeBody());
      const canceled = await t.http.post(`/v1/recharges/${created.body.id}/cancel`).set('Authorization', auth);
      expect(canceled.status).toBe(200);
      const started = Date.now();
      const res = await t.http
        .get(`/v1/recharges/${created.body.id}`)
        .set('Authorization', auth)
        .set('Prefer', 'wait=99');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(res.status).toBe(200);
      expect(res.headers['preference-applied']).toBe('wait=30');
      expect(res.body.state).toBe('CANCELED');
    });
  });

  describe('GET /v1/recharges (list)', () => {
    let lister: string;
    const accountA = '100000000000000001';
    const accountB = '200000000000000002';
    const idsA: string[] = [];
    let canceledId: string;

    beforeAll(async () => {
      lister = bearer((await t.createClient(['*'])).apiKey);
      for (let i = 0; i < 7; i += 1) {
        const res = await t.http
          .post('/v1/recharges')
          .set('Authorization', lister)
          .set('Idempotency-Key', newKey())
          .send(rechargeBody({ accountId: accountA, amount: 100 + i }));
        expect(res.status).toBe(202);
        idsA.push(res.body.id);
      }
      for (let i = 0; i < 2; i += 1) {
        const res = await t.http
          .post('/v1/recharges')
          .set('Authorization', lister)
          .set('Idempotency-Key', newKey())
          .send(rechargeBody({ accountId: accountB, amount: 200 + i }));
        expect(res.status).toBe(202);
      }
      const cancel = await t.http.post(`/v1/recharges/${idsA[2]}/cancel`).set('Authorization', lister);
      expect(cancel.status).toBe(200);
      canceledId = idsA[2];
    });

    it('pages through one account with limit and cursor: 3 pages, no duplicates, no omissions, newest first', async () => {
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | null | undefined;
      let pages = 0;
      do {
        const res = await t.http
          .get('/v1/recharges')
          .query({ accountId: accountA, limit: 3, ...(cursor ? { cursor } : {}) })
          .set('Authorization', lister);
        expect(res.status).toBe(200);
        expect(Object.keys(res.body).sort()).toEqual(['data', 'nextCursor']);
        for (const r of res.body.data) {
          expect(Object.keys(r).sort()).toEqual(REPRESENTATION_FIELDS);
          expect(r.accountId).toBe(accountA);
        }
        sizes.push(res.body.data.length);
        seen.push(...res.body.data.map((r: { id: string }) => r.id));
        cursor = res.body.nextCursor;
        pages += 1;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(sizes).toEqual([3, 3, 1]);
      expect(cursor).toBeNull();
      expect(new Set(seen).size).toBe(7);
      expect(seen).toEqual([...idsA].reverse());
    });

    it('returns every recharge of the client without a filter, and none of another client', async () => {
      const res = await t.http.get('/v1/recharges').query({ limit: 100 }).set('Authorization', lister);
      expect(res.status).toBe(200);
      expect(res.body.data).toHaveLength(9);
      expect(res.body.nextCursor).toBeNull();
    });

    it('filters by accountId', async () => {
      const res = await t.http.get('/v1/recharges').query({ accountId: accountB }).set('Authorization', lister);
      expect(res.status).toBe(200);
      expect(res.body.data.map((r: { amount: number }) => r.amount)).toEqual([201, 200]);
      expect(res.body.nextCursor).toBeNull();
    });

    it('filters by status', async () => {
      const canceled = await t.http.get('/v1/recharges').query({ status: 'canceled' }).set('Authorization', lister);
      expect(canceled.status).toBe(200);
      expect(canceled.body.data.map((r: { id: string }) => r.id)).toEqual([canceledId]);
      expect(canceled.body.data[0]).toMatchObject({ status: 'canceled', state: 'CANCELED' });
      expect(canceled.body.nextCursor).toBeNull();

      const accepted = await t.http
        .get('/v1/recharges')
        .query({ status: 'accepted', accountId: accountA })
        .set('Authorization', lister);
      expect(accepted.status).toBe(200);
      expect(accepted.body.data).toHaveLength(6);
      expect(accepted.body.data.every((r: { status: string }) => r.status === 'accepted')).toBe(true);

      const succeeded = await t.http.get('/v1/recharges').query({ status: 'succeeded' }).set('Authorization', lister);
      expect(succeeded.status).toBe(200);
      expect(succeeded.body).toEqual({ data: [], nextCursor: null });
    });

    it('an empty list is {data: [], nextCursor: null}', async () => {
      const res = await t.http.get('/v1/recharges').query({ accountId: '42424242' }).set('Authorization', lister);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ data: [], nextCursor: null });
    });
  });

  describe('events and cancel', () => {
    it('events start with from: null → CREATED; cancel → 200 CANCELED, 2 events; cancel again → 409 INVALID_STATE', async () => {
      const created = await create(rechargeBody());
      const id = created.body.id;

      const events = await t.http.get(`/v1/recharges/${id}/events`).set('Authorization', auth);
      expect(events.status).toBe(200);
      expect(events.body).toEqual({
        data: [
          { from: null, to: 'CREATED', reason: expect.any(String), source: 'api', at: expect.stringMatching(ISO) },
        ],
      });

      const cancel = await t.http.post(`/v1/recharges/${id}/cancel`).set('Authorization', auth);
      expect(cancel.status).toBe(200);
      expect(Object.keys(cancel.body).sort()).toEqual(REPRESENTATION_FIELDS);
      expect(cancel.body).toMatchObject({
        id,
        status: 'canceled',
        state: 'CANCELED',
        completedAt: expect.stringMatching(ISO),
      });
      expect(cancel.body.failure).toEqual({ code: 'CANCELED', message: expect.any(String), providerCode: null });

      const after = await t.http.get(`/v1/recharges/${id}/events`).set('Authorization', auth);
      expect(after.status).toBe(200);
      expect(after.body.data).toHaveLength(2);
      expect(after.body.data[0]).toMatchObject({ from: null, to: 'CREATED', source: 'api' });
      expect(after.body.data[1]).toEqual({
        from: 'CREATED',
        to: 'CANCELED',
        reason: expect.any(String),
        source: 'api',
        at: expect.stringMatching(ISO),
      });

      const again = await t.http.post(`/v1/recharges/${id}/cancel`).set('Authorization', auth);
      expect(again.status).toBe(409);
      expect(again.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(again.body).toMatchObject({
        status: 409,
        code: 'INVALID_STATE',
        correlationId: again.headers['x-request-id'],
      });

      const stored = await query(
        t.databaseUrl,
        'SELECT count(*)::int AS n FROM recharge_events WHERE recharge_id = $1',
        [id],
      );
      expect(stored).toEqual([{ n: 2 }]);
      const get = await t.http.get(`/v1/recharges/${id}`).set('Authorization', auth);
      expect(get.body).toEqual(cancel.body);
    });
  });

  it('10 simultaneous cancels: exactly one 200, nine 409 INVALID_STATE, one CANCELED event', async () => {
    const created = await create(rechargeBody());
    const id = created.body.id;
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => t.http.post(`/v1/recharges/${id}/cancel`).set('Authorization', auth)),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    for (const r of responses.filter((x) => x.status === 409)) expect(r.body.code).toBe('INVALID_STATE');
    const events = await query(
      t.databaseUrl,
      'SELECT from_state, to_state, source FROM recharge_events WHERE recharge_id = $1 ORDER BY id',
      [id],
    );
    expect(events).toEqual([
      { from_state: null, to_state: 'CREATED', source: 'api' },
      { from_state: 'CREATED', to_state: 'CANCELED', source: 'api' },
    ]);
  });

  describe('accounts: balance and ledger', () => {
    it('an account with no ledger entries has no balances and an empty ledger', async () => {
      const balance = await t.http.get('/v1/accounts/98765432109876543/balance').set('Authorization', auth);
      expect(balance.status).toBe(200);
      expect(balance.body).toEqual({ accountId: '98765432109876543', balances: [] });

      const ledger = await t.http.get('/v1/accounts/98765432109876543/ledger').set('Authorization', auth);
      expect(ledger.status).toBe(200);
      expect(ledger.body).toEqual({ data: [], nextCursor: null });
    });

    it('shows the ledger of SUCCEEDED recharges (rows inserted as the dispatcher would) with paging', async () => {
      const accountId = '31415926535897932';
      const amounts = [1000, 250, 1];
      const expected: Array<Record<string, unknown>> = [];
      for (const [i, amount] of amounts.entries()) {
        const rechargeId = newId('rch');
        const at = new Date(Date.UTC(2026, 10, 25, 12, 0, i));
        await query(
          t.databaseUrl,
          `INSERT INTO recharges (id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency, metadata,
             state, provider_reference, created_at, updated_at, completed_at)
           VALUES ($1, $2, $3, 'fp', $4, $5, 'CNY', '{}', 'SUCCEEDED', 'TX1', $6, $6, $6)`,
          [rechargeId, clientId, newKey(), accountId, amount, at],
        );
        const creditId = newId('led');
        await query(
          t.databaseUrl,
          `INSERT INTO ledger_entries (id, recharge_id, ledger_account, account_id, direction, amount, currency, at) VALUES
             ($1, $2, 'provider_clearing', NULL, 'debit', $4, 'CNY', $5),
             ($3, $2, $6, $7, 'credit', $4, 'CNY', $5)`,
          [newId('led'), rechargeId, creditId, amount, at, `customer:${accountId}`, accountId],
        );
        expected.unshift({
          id: creditId,
          rechargeId,
          amount,
          currency: 'CNY',
          direction: 'credit',
          at: at.toISOString(),
        });
      }
      await query(
        t.databaseUrl,
        `INSERT INTO balances (ledger_account, currency, amount, updated_at) VALUES ($1, 'CNY', 1251, now()), ('provider_clearing', 'CNY', -1251, now())`,
        [`customer:${accountId}`],
      );

      const balance = await t.http.get(`/v1/accounts/${accountId}/balance`).set('Authorization', auth);
      expect(balance.status).toBe(200);
      expect(balance.body).toEqual({ accountId, balances: [{ currency: 'CNY', amount: 1251 }] });

      const page1 = await t.http.get(`/v1/accounts/${accountId}/ledger`).query({ limit: 2 }).set('Authorization', auth);
      expect(page1.status).toBe(200);
      expect(page1.body.data).toEqual(expected.slice(0, 2));
      expect(typeof page1.body.nextCursor).toBe('string');
      const page2 = await t.http
        .get(`/v1/accounts/${accountId}/ledger`)
        .query({ limit: 2, cursor: page1.body.nextCursor })
        .set('Authorization', auth);
      expect(page2.status).toBe(200);
      expect(page2.body).toEqual({ data: expected.slice(2), nextCursor: null });

      const all = await t.http.get(`/v1/accounts/${accountId}/ledger`).set('Authorization', auth);
      expect(all.body).toEqual({ data: expected, nextCursor: null });
    });
  });

  describe('X-Request-Id', () => {
    it('echoes a valid caller id', async () => {
      const res = await t.http.get('/v1/recharges').set('Authorization', auth).set('X-Request-Id', 'abc-123.X:y');
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toBe('abc-123.X:y');
    });

    it('accepts exactly 128 characters', async () => {
      const id = 'a'.repeat(128);
      const res = await t.http.get('/v1/recharges').set('Authorization', auth).set('X-Request-Id', id);
      expect(res.headers['x-request-id']).toBe(id);
    });

    it.each([
      ['200 characters', 'x'.repeat(200)],
      ['129 characters', 'y'.repeat(129)],
      ['spaces', 'has spaces in it'],
      ['a slash', 'a/b'],
    ])('replaces an invalid id (%s) by a generated one', async (_, given) => {
      const res = await t.http.get('/v1/recharges').set('Authorization', auth).set('X-Request-Id', given);
      expect(res.status).toBe(200);
      const id = res.headers['x-request-id'];
      expect(typeof id).toBe('string');
      expect(id).not.toBe(given);
      expect(id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    });

    it('generates one when none is sent, different per request', async () => {
      const a = await t.http.get('/v1/recharges').set('Authorization', auth);
      const b = await t.http.get('/v1/recharges').set('Authorization', auth);
      expect(a.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(b.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    });

    it('is on error responses and equals the correlationId (given and generated)', async () => {
      const given = await t.http
        .get('/v1/recharges/not-an-id')
        .set('Authorization', auth)
        .set('X-Request-Id', 'trace-7');
      expect(given.status).toBe(404);
      expect(given.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(given.headers['x-request-id']).toBe('trace-7');
      expect(given.body.correlationId).toBe('trace-7');

      const generated = await t.http.get('/v1/recharges').set('X-Request-Id', 'bad id');
      expect(generated.status).toBe(401);
      expect(generated.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(generated.body.correlationId).toBe(generated.headers['x-request-id']);

      const unknownRoute = await t.http.get('/v1/nothing-here').set('X-Request-Id', 'route-1');
      expect(unknownRoute.status).toBe(404);
      expect(unknownRoute.headers['x-request-id']).toBe('route-1');
      expect(unknownRoute.body).toMatchObject({ code: 'NOT_FOUND', correlationId: 'route-1' });
    });
    it.each(['/docs', '/docs-json', '/health/live', '/health/ready', '/metrics'])(
      'is on every response, also %s',
      async (path) => {
        const res = await t.http.get(path).set('X-Request-Id', 'every-1');
        expect(res.status).toBe(200);
        expect(res.headers['x-request-id']).toBe('every-1');
      },
    );
  });

  describe('OpenAPI', () => {
    it('GET /docs serves Swagger UI', async () => {
      const res = await t.http.get('/docs').redirects(2);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toMatch(/swagger/i);
    });

    it('GET /docs-json is the OpenAPI document generated from the code', async () => {
      const res = await t.http.get('/docs-json');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/json/);
      expect(res.body.openapi).toMatch(/^3\./);
      expect(Object.keys(res.body.paths)).toEqual(
        expect.arrayContaining([
          '/v1/recharges',
          '/v1/recharges/{id}',
          '/v1/recharges/{id}/events',
          '/v1/recharges/{id}/cancel',
          '/v1/accounts/{accountId}/balance',
          '/v1/accounts/{accountId}/ledger',
        ]),
      );
    });
  });
});
