import { AddressInfo } from 'node:net';
import { query } from '../support/database';
import { bearer, newKey, PROBLEM_JSON, rechargeBody, writeCounts, closeWriteCounters } from '../support/e2e-helpers';
import { startTestApp, startTestAppOn, TestApp } from '../support/test-app';

/** The fields of a recharge or problem body these tests read. */
interface RechargeJson {
  id: string;
  amount: number;
  code?: string;
}

describe('idempotent create (docs/api.md)', () => {
  let t: TestApp;
  let baseUrl: string;
  let auth: string;
  let clientId: string;

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    baseUrl = `http://127.0.0.1:${port}`;
    const client = await t.createClient(['*']);
    auth = bearer(client.apiKey);
    clientId = client.clientId;
  });

  afterAll(async () => {
    await closeWriteCounters();
    await t?.close();
  });

  const post = (body: Record<string, unknown>, key: string | undefined, authorization = auth) => {
    const req = t.http.post('/v1/recharges').set('Authorization', authorization);
    if (key !== undefined) req.set('Idempotency-Key', key);
    return req.send(body);
  };

  const rowsForKey = async (key: string) => {
    const [row] = await query<{ recharges: number; events: number }>(
      t.databaseUrl,
      `SELECT (SELECT count(*)::int FROM recharges WHERE idempotency_key = $1) AS recharges,
              (SELECT count(*)::int FROM recharge_events e JOIN recharges r ON r.id = e.recharge_id WHERE r.idempotency_key = $1) AS events`,
      [key],
    );
    return row;
  };

  it('50 simultaneous identical requests create exactly one recharge: one 202, 49 × 200 replays with the same id', async () => {
    const key = newKey();
    const body = JSON.stringify(rechargeBody({ amount: 777, metadata: { run: 'concurrent' } }));
    const responses = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await fetch(`${baseUrl}/v1/recharges`, {
          method: 'POST',
          headers: { authorization: auth, 'idempotency-key': key, 'content-type': 'application/json' },
          body,
        });
        return {
          status: res.status,
          replayed: res.headers.get('idempotent-replayed'),
          location: res.headers.get('location'),
          body: (await res.json()) as RechargeJson,
        };
      }),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    const created = responses.find((r) => r.status === 202)!;
    expect(created.replayed).toBeNull();
    const ids = new Set(responses.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    for (const r of responses.filter((x) => x.status === 200)) {
      expect(r.replayed).toBe('true');
      expect(r.location).toBe(`/v1/recharges/${created.body.id}`);
      expect(r.body).toEqual(created.body);
    }
    expect(await rowsForKey(key)).toEqual({ recharges: 1, events: 1 });
  });

  it('simultaneous requests with one key but two different bodies: one 202, its twins 200, the others 422 — never 409 or 500', async () => {
    const key = newKey();
    const bodies = [JSON.stringify(rechargeBody({ amount: 1000 })), JSON.stringify(rechargeBody({ amount: 2000 }))];
    const responses = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await fetch(`${baseUrl}/v1/recharges`, {
          method: 'POST',
          headers: { authorization: auth, 'idempotency-key': key, 'content-type': 'application/json' },
          body: bodies[i % 2],
        });
        return { sent: i % 2, status: res.status, body: (await res.json()) as RechargeJson };
      }),
    );
    const winner = responses.filter((r) => r.status === 202);
    expect(winner).toHaveLength(1);
    const same = responses.filter((r) => r.sent === winner[0].sent);
    const other = responses.filter((r) => r.sent !== winner[0].sent);
    expect(same.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
    expect(other.map((r) => r.status)).toEqual(Array(10).fill(422));
    for (const r of other) expect(r.body.code).toBe('DUPLICATE_REQUEST');
    for (const r of same) expect(r.body.id).toBe(winner[0].body.id);
    expect(winner[0].body.amount).toBe(winner[0].sent === 0 ? 1000 : 2000);
    expect(await rowsForKey(key)).toEqual({ recharges: 1, events: 1 });
  });

  it('Prefer: wait on a replay is honoured too', async () => {
    const key = newKey();
    const body = rechargeBody();
    const first = await post(body, key);
    expect(first.status).toBe(202);
    const replay = await post(body, key).set('Prefer', 'wait=0');
    expect(replay.status).toBe(200);
    expect(replay.headers['preference-applied']).toBe('wait=0');
    expect(replay.body.id).toBe(first.body.id);
  });

  it('absent metadata and empty metadata are the same request', async () => {
    const key = newKey();
    const first = await post(rechargeBody({ metadata: undefined }), key);
    expect(first.status).toBe(202);
    const replay = await post(rechargeBody({ metadata: {} }), key);
    expect(replay.status).toBe(200);
    expect(replay.body.id).toBe(first.body.id);
  });

  it('a replay after the fact answers 200 with the same body and Idempotent-Replayed: true', async () => {
    const key = newKey();
    const body = rechargeBody({
      orderReference: 'ord-1',
      callbackUrl: 'https://hooks.example.com/cb',
      metadata: { a: '1' },
    });
    const first = await post(body, key);
    expect(first.status).toBe(202);
    const replay = await post(body, key);
    expect(replay.status).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.headers.location).toBe(`/v1/recharges/${first.body.id}`);
    expect(replay.body).toEqual(first.body);
    expect(await rowsForKey(key)).toEqual({ recharges: 1, events: 1 });
  });

  it('a replay returns the current recharge (after cancel: CANCELED)', async () => {
    const key = newKey();
    const body = rechargeBody();
    const first = await post(body, key);
    expect(first.status).toBe(202);
    const cancel = await t.http.post(`/v1/recharges/${first.body.id}/cancel`).set('Authorization', auth);
    expect(cancel.status).toBe(200);
    const replay = await post(body, key);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(cancel.body);
  });

  describe('same key, different request → 422 DUPLICATE_REQUEST, nothing written', () => {
    const original = {
      accountId: '888',
      amount: 5000,
      currency: 'CNY',
      orderReference: 'ord-x',
      metadata: { a: '1', b: '2' },
      callbackUrl: 'https://hooks.example.com/a',
    };
    it.each<[string, Record<string, unknown>]>([
      ['amount', { amount: 5001 }],
      ['accountId', { accountId: '889' }],
      ['currency', { currency: 'USD' }],
      ['metadata value', { metadata: { a: '1', b: '3' } }],
      ['metadata extra key', { metadata: { a: '1', b: '2', c: '3' } }],
      ['metadata dropped', { metadata: undefined }],
      ['callbackUrl', { callbackUrl: 'https://hooks.example.com/b' }],
      ['callbackUrl dropped', { callbackUrl: undefined }],
      ['orderReference', { orderReference: 'ord-y' }],
      ['orderReference dropped', { orderReference: undefined }],
    ])('%s differs', async (_, change) => {
      const key = newKey();
      const first = await post(original, key);
      expect(first.status).toBe(202);
      const before = await writeCounts(t.databaseUrl);
      const res = await post(rechargeBody({ ...original, ...change }), key);
      expect(res.status).toBe(422);
      expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
      expect(res.headers['idempotent-replayed']).toBeUndefined();
      expect(res.body).toMatchObject({
        status: 422,
        code: 'DUPLICATE_REQUEST',
        correlationId: res.headers['x-request-id'],
      });
      expect(await writeCounts(t.databaseUrl)).toEqual(before);
      const stored = await t.http.get(`/v1/recharges/${first.body.id}`).set('Authorization', auth);
      expect(stored.body).toEqual(first.body);
    });
  });

  it('the key may travel in the body: same request → 200 replay', async () => {
    const key = newKey();
    const body = rechargeBody({ amount: 321 });
    const first = await post(body, key);
    expect(first.status).toBe(202);
    const viaBody = await post({ ...body, idempotencyKey: key }, undefined);
    expect(viaBody.status).toBe(200);
    expect(viaBody.headers['idempotent-replayed']).toBe('true');
    expect(viaBody.body).toEqual(first.body);
    const both = await post({ ...body, idempotencyKey: key }, key);
    expect(both.status).toBe(200);
    expect(both.body.id).toBe(first.body.id);
    expect(await rowsForKey(key)).toEqual({ recharges: 1, events: 1 });
  });

  it('a first request with the key only in the body creates; the header replays it', async () => {
    const key = newKey();
    const body = rechargeBody({ amount: 654 });
    const first = await post({ ...body, idempotencyKey: key }, undefined);
    expect(first.status).toBe(202);
    const viaHeader = await post(body, key);
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.body).toEqual(first.body);
  });

  it('header and body keys both present and different → 400, nothing written', async () => {
    const before = await writeCounts(t.databaseUrl);
    const res = await post(rechargeBody({ idempotencyKey: newKey() }), newKey());
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.body).toMatchObject({ code: 'INVALID_ARGUMENT', correlationId: res.headers['x-request-id'] });
    expect(res.body.errors).toEqual([{ field: 'idempotencyKey', message: expect.any(String) }]);
    expect(await writeCounts(t.databaseUrl)).toEqual(before);
  });

  it('keys are scoped per client: the same key from two clients makes two recharges', async () => {
    const other = await t.createClient(['*']);
    const key = newKey();
    const body = rechargeBody();
    const a = await post(body, key);
    const b = await post(body, key, bearer(other.apiKey));
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(a.body.id).not.toBe(b.body.id);
    const rows = await query<{ client_id: string }>(
      t.databaseUrl,
      'SELECT client_id FROM recharges WHERE idempotency_key = $1 ORDER BY client_id',
      [key],
    );
    expect(rows.map((r) => r.client_id).sort()).toEqual([clientId, other.clientId].sort());
    // and each client replays its own
    const replayB = await post(body, key, bearer(other.apiKey));
    expect(replayB.status).toBe(200);
    expect(replayB.body.id).toBe(b.body.id);
  });

  it('metadata key order does not make a different request', async () => {
    const key = newKey();
    const first = await post(rechargeBody({ metadata: { alpha: '1', beta: '2', gamma: '3' } }), key);
    expect(first.status).toBe(202);
    const reordered = await post(rechargeBody({ metadata: { gamma: '3', alpha: '1', beta: '2' } }), key);
    expect(reordered.status).toBe(200);
    expect(reordered.headers['idempotent-replayed']).toBe('true');
    expect(reordered.body.id).toBe(first.body.id);
    expect(await rowsForKey(key)).toEqual({ recharges: 1, events: 1 });
  });

  it('body field order does not matter either', async () => {
    const key = newKey();
    const first = await t.http
      .post('/v1/recharges')
      .set('Authorization', auth)
      .set('Idempotency-Key', key)
      .set('Content-Type', 'application/json')
      .send('{"accountId":"42","amount":10,"currency":"JPY"}');
    expect(first.status).toBe(202);
    const second = await t.http
      .post('/v1/recharges')
      .set('Authorization', auth)
      .set('Idempotency-Key', key)
      .set('Content-Type', 'application/json')
      .send('{"currency":"JPY","amount":10,"accountId":"42"}');
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
  });
  describe('a replay is answered before the policy checks (issue 11 item 8)', () => {
    it("item 8: after the amount limit, currencies, callback hosts and the client's accounts are narrowed (new config), replaying an accepted request is 200 replayed; new keys are refused; another request under the key is 422", async () => {
      const accountId = '1234567890123456';
      const other = '7777';
      const client = await t.createClient([accountId, other]);
      const key = newKey();
      const body = { accountId, amount: 5000, currency: 'USD', callbackUrl: 'https://hooks.example.com/cb' };
      const accepted = await post(body, key, bearer(client.apiKey));
      expect(accepted.status).toBe(202);

      // Every policy narrowed at once: a replica started with a new configuration, and the client
      // no longer allowed the account.
      await query(t.databaseUrl, `UPDATE clients SET allowed_accounts = $2 WHERE id = $1`, [client.clientId, [other]]);
      const narrowed = await startTestAppOn(t.databaseUrl, {
        MAX_RECHARGE_AMOUNT: '1000',
        SUPPORTED_CURRENCIES: 'CNY',
        CALLBACK_ALLOWED_HOSTS: 'other.example.org',
      });
      try {
        const send = (b: Record<string, unknown>, k: string) =>
          narrowed.http
            .post('/v1/recharges')
            .set('Authorization', bearer(client.apiKey))
            .set('Idempotency-Key', k)
            .send(b);

        const replay = await send(body, key);
        expect(replay.status).toBe(200);
        expect(replay.headers['idempotent-replayed']).toBe('true');
        expect(replay.body).toMatchObject({ id: accepted.body.id, ...body });
        expect(await rowsForKey(key)).toEqual({ recharges: 1, events: 1 });

        // The narrowed policies do hold for anything that is not a replay, and write nothing.
        const before = await writeCounts(t.databaseUrl);
        const newKeySameBody = await send(body, newKey());
        expect(newKeySameBody.status).toBe(403);
        expect(newKeySameBody.body.code).toBe('UNAUTHORIZED');
        const newKeyAllowedAccount = await send({ ...body, accountId: other }, newKey());
        expect(newKeyAllowedAccount.status).toBe(400);
        expect(newKeyAllowedAccount.body.errors.map((e: { field: string }) => e.field)).toEqual([
          'amount',
          'currency',
          'callbackUrl',
        ]);
        // A different request under the accepted key is still a conflicting reuse, refused or not.
        const different = await send({ ...body, amount: 5001 }, key);
        expect(different.status).toBe(422);
        expect(different.headers['content-type']).toMatch(PROBLEM_JSON);
        expect(different.body.code).toBe('DUPLICATE_REQUEST');
        expect(await writeCounts(t.databaseUrl)).toEqual(before);
      } finally {
        await narrowed.close();
      }
    });
  });
});
