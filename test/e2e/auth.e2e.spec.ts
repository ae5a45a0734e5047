import { ManageClientsUseCase } from '../../src/clients/application/manage-clients.use-case';
import { query } from '../support/database';
import { bearer, newKey, PROBLEM_JSON, rechargeBody, writeCounts, closeWriteCounters } from '../support/e2e-helpers';
import { sleep } from '../support/wait';
import { startTestApp, TestApp } from '../support/test-app';

type Res = { status: number; headers: Record<string, string>; body: Record<string, unknown>; text: string };

function expectProblem(res: Res, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
  expect(res.body).toMatchObject({ status, code, correlationId: res.headers['x-request-id'] });
  expect(typeof res.body.correlationId).toBe('string');
}

describe('authentication and authorization (docs/api.md)', () => {
  let t: TestApp;
  let owner: { clientId: string; apiKey: string };

  beforeAll(async () => {
    t = await startTestApp();
    owner = await t.createClient(['*']);
  });

  afterAll(async () => {
    await closeWriteCounters();
    await t?.close();
  });

  describe('401 UNAUTHENTICATED', () => {
    const cases: Array<[string, string | undefined]> = [
      ['no Authorization header', undefined],
      ['an unknown key', 'Bearer rk_thisKeyDoesNotExist0000000000000000000000000'],
      ['Basic credentials', 'Basic x'],
      ['"Bearer" alone', 'Bearer'],
      ['"Bearer " with only spaces', 'Bearer    '],
      ['the key without the Bearer scheme', 'KEY_PLACEHOLDER'],
      ['two tokens', 'Bearer KEY_PLACEHOLDER extra'],
    ];

    it.each(cases)('POST with %s → 401, nothing written', async (_, header) => {
      const before = await writeCounts(t.databaseUrl);
      const req = t.http.post('/v1/recharges').set('Idempotency-Key', newKey());
      if (header !== undefined) req.set('Authorization', header.replace('KEY_PLACEHOLDER', owner.apiKey));
      const res = await req.send(rechargeBody());
      expectProblem(res, 401, 'UNAUTHENTICATED');
      expect(res.text).not.toContain(owner.apiKey);
      expect(await writeCounts(t.databaseUrl)).toEqual(before);
    });

    it.each([
      ['GET', '/v1/recharges'],
      ['GET', '/v1/recharges/rch_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f'],
      ['GET', '/v1/recharges/rch_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f/events'],
      ['POST', '/v1/recharges/rch_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f/cancel'],
      ['GET', '/v1/accounts/123/balance'],
      ['GET', '/v1/accounts/123/ledger'],
    ])('%s %s without a key → 401', async (method, path) => {
      const res = method === 'GET' ? await t.http.get(path) : await t.http.post(path);
      expectProblem(res, 401, 'UNAUTHENTICATED');
    });

    it('a revoked key is refused within about a second (per-replica auth cache)', async () => {
      const c = await t.createClient(['*']);
      const ok = await t.http.get('/v1/recharges').set('Authorization', bearer(c.apiKey));
      expect(ok.status).toBe(200);
      await t.app.get(ManageClientsUseCase).revoke(c.clientId);
      await sleep(1100);
      const before = await writeCounts(t.databaseUrl);
      const get = await t.http.get('/v1/recharges').set('Authorization', bearer(c.apiKey));
      expectProblem(get, 401, 'UNAUTHENTICATED');
      const post = await t.http
        .post('/v1/recharges')
        .set('Authorization', bearer(c.apiKey))
        .set('Idempotency-Key', newKey())
        .send(rechargeBody());
      expectProblem(post, 401, 'UNAUTHENTICATED');
      expect(await writeCounts(t.databaseUrl)).toEqual(before);
    });
  });

  describe('403 UNAUTHORIZED for an account the client may not touch', () => {
    let limited: { clientId: string; apiKey: string };

    beforeAll(async () => {
      limited = await t.createClient(['111']);
    });

    it('may recharge its own account', async () => {
      const res = await t.http
        .post('/v1/recharges')
        .set('Authorization', bearer(limited.apiKey))
        .set('Idempotency-Key', newKey())
        .send(rechargeBody({ accountId: '111' }));
      expect(res.status).toBe(202);
      expect(res.body.accountId).toBe('111');
    });

    it('posting for another account → 403, nothing written', async () => {
      const before = await writeCounts(t.databaseUrl);
      const res = await t.http
        .post('/v1/recharges')
        .set('Authorization', bearer(limited.apiKey))
        .set('Idempotency-Key', newKey())
        .send(rechargeBody({ accountId: '222' }));
      expectProblem(res, 403, 'UNAUTHORIZED');
      expect(await writeCounts(t.databaseUrl)).toEqual(before);
      const rows = await query(t.databaseUrl, "SELECT id FROM recharges WHERE account_id = '222'");
      expect(rows).toEqual([]);
    });

    it('an account whose UID merely starts with an allowed one is not allowed', async () => {
      const res = await t.http
        .post('/v1/recharges')
        .set('Authorization', bearer(limited.apiKey))
        .set('Idempotency-Key', newKey())
        .send(rechargeBody({ accountId: '1111' }));
      expectProblem(res, 403, 'UNAUTHORIZED');
    });

    it('reading balance or ledger of another account → 403', async () => {
      const balance = await t.http.get('/v1/accounts/222/balance').set('Authorization', bearer(limited.apiKey));
      expectProblem(balance, 403, 'UNAUTHORIZED');
      const ledger = await t.http.get('/v1/accounts/222/ledger').set('Authorization', bearer(limited.apiKey));
      expectProblem(ledger, 403, 'UNAUTHORIZED');
      const own = await t.http.get('/v1/accounts/111/balance').set('Authorization', bearer(limited.apiKey));
      expect(own.status).toBe(200);
      expect(own.body).toEqual({ accountId: '111', balances: [] });
    });
  });

  describe("another client's recharge is 404", () => {
    let id: string;
    let stranger: string;

    beforeAll(async () => {
      const res = await t.http
        .post('/v1/recharges')
        .set('Authorization', bearer(owner.apiKey))
        .set('Idempotency-Key', newKey())
        .send(rechargeBody());
      expect(res.status).toBe(202);
      id = res.body.id;
      stranger = bearer((await t.createClient(['*'])).apiKey);
    });

    it('GET → 404 NOT_FOUND', async () => {
      expectProblem(await t.http.get(`/v1/recharges/${id}`).set('Authorization', stranger), 404, 'NOT_FOUND');
    });

    it('GET events → 404 NOT_FOUND', async () => {
      expectProblem(await t.http.get(`/v1/recharges/${id}/events`).set('Authorization', stranger), 404, 'NOT_FOUND');
    });

    it('cancel → 404 NOT_FOUND and the recharge is untouched', async () => {
      const before = await writeCounts(t.databaseUrl);
      expectProblem(await t.http.post(`/v1/recharges/${id}/cancel`).set('Authorization', stranger), 404, 'NOT_FOUND');
      expect(await writeCounts(t.databaseUrl)).toEqual(before);
      const rows = await query(t.databaseUrl, 'SELECT state FROM recharges WHERE id = $1', [id]);
      expect(rows).toEqual([{ state: 'CREATED' }]);
    });

    it('the 404 is indistinguishable from a recharge that does not exist', async () => {
      const theirs = await t.http.get(`/v1/recharges/${id}`).set('Authorization', stranger);
      const none = await t.http
        .get('/v1/recharges/rch_0190e1d2a3b47c5d8e9f0a1b2c3d4e5f')
        .set('Authorization', stranger);
      expect(none.status).toBe(404);
      const strip = (b: Record<string, unknown>) => ({
        ...b,
        correlationId: undefined,
        detail: undefined,
        instance: undefined,
      });
      expect(strip(theirs.body)).toEqual(strip(none.body));
    });

    it("it does not appear in the stranger's list", async () => {
      const res = await t.http.get('/v1/recharges').set('Authorization', stranger);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ data: [], nextCursor: null });
    });
  });

  it('API keys are stored hashed: the key appears in no column of clients or recharges', async () => {
    const c = await t.createClient(['*']);
    const res = await t.http
      .post('/v1/recharges')
      .set('Authorization', bearer(c.apiKey))
      .set('Idempotency-Key', newKey())
      .send(rechargeBody());
    expect(res.status).toBe(202);
    expect(res.text).not.toContain(c.apiKey);
    const [row] = await query<{ api_key_hash: string }>(
      t.databaseUrl,
      'SELECT api_key_hash FROM clients WHERE id = $1',
      [c.clientId],
    );
    expect(row.api_key_hash).not.toBe(c.apiKey);
    expect(row.api_key_hash).not.toContain(c.apiKey);
    const leaks = await query(
      t.databaseUrl,
      `SELECT 'clients' AS t FROM clients x WHERE row_to_json(x)::text LIKE '%' || $1 || '%'
       UNION ALL SELECT 'recharges' FROM recharges x WHERE row_to_json(x)::text LIKE '%' || $1 || '%'
       UNION ALL SELECT 'recharge_events' FROM recharge_events x WHERE row_to_json(x)::text LIKE '%' || $1 || '%'`,
      [c.apiKey],
    );
    expect(leaks).toEqual([]);
  });
});

describe('per-client rate limit (CLIENT_RATE_LIMIT_RPS)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ CLIENT_RATE_LIMIT_RPS: '5' });
  });

  afterAll(async () => {
    await closeWriteCounters();
    await t?.close();
  });

  it('a burst of 15 requests gets 429 RATE_LIMITED with an integer Retry-After ≥ 1; another client is unaffected', async () => {
    const noisy = bearer((await t.createClient(['*'])).apiKey);
    const quiet = bearer((await t.createClient(['*'])).apiKey);
    const responses = await Promise.all(
      Array.from({ length: 15 }, () => t.http.get('/v1/recharges').set('Authorization', noisy)),
    );
    const limited = responses.filter((r) => r.status === 429);
    const ok = responses.filter((r) => r.status === 200);
    expect(limited.length + ok.length).toBe(15);
    expect(limited.length).toBeGreaterThanOrEqual(5);
    expect(ok.length).toBeGreaterThanOrEqual(5);
    for (const r of limited) {
      expectProblem(r, 429, 'RATE_LIMITED');
      expect(r.headers['retry-after']).toMatch(/^\d+$/);
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    const other = await t.http.get('/v1/recharges').set('Authorization', quiet);
    expect(other.status).toBe(200);
  });

  it('a rate-limited POST writes nothing', async () => {
    const noisy = bearer((await t.createClient(['*'])).apiKey);
    const before = await writeCounts(t.databaseUrl);
    const responses = await Promise.all(
      Array.from({ length: 15 }, () =>
        t.http.post('/v1/recharges').set('Authorization', noisy).set('Idempotency-Key', newKey()).send(rechargeBody()),
      ),
    );
    const created = responses.filter((r) => r.status === 202).length;
    const limited = responses.filter((r) => r.status === 429).length;
    expect(created + limited).toBe(15);
    expect(limited).toBeGreaterThanOrEqual(5);
    const after = await writeCounts(t.databaseUrl);
    expect(after.recharges - before.recharges).toBe(created);
    expect(after.events - before.events).toBe(created);
  });

  it('unauthenticated requests are answered 401 before any rate limiting', async () => {
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => t.http.get('/v1/recharges').set('Authorization', 'Bearer nope')),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(401));
  });
});
