import { bearer, closeWriteCounters, newKey, PROBLEM_JSON, rechargeBody, writeCounts } from '../support/e2e-helpers';
import { startTestApp, TestApp } from '../support/test-app';

describe('text that PostgreSQL or JSON cannot hold faithfully is bad input', () => {
  let t: TestApp;
  let auth: string;

  beforeAll(async () => {
    t = await startTestApp();
    auth = bearer((await t.createClient(['*'])).apiKey);
  });

  afterAll(async () => {
    await closeWriteCounters();
    await t?.close();
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['orderReference containing U+0000', rechargeBody({ orderReference: 'ord\u0000-1' }), 'orderReference'],
    ['metadata value containing U+0000', rechargeBody({ metadata: { note: 'a\u0000b' } }), 'metadata'],
    ['metadata key containing U+0000', rechargeBody({ metadata: { 'k\u0000': 'v' } }), 'metadata'],
    ['orderReference with an unpaired surrogate', rechargeBody({ orderReference: 'x\ud800' }), 'orderReference'],
  ])('%s is client input: 400 INVALID_ARGUMENT, not 500 INTERNAL_ERROR', async (_, body, field) => {
    const before = await writeCounts(t.databaseUrl);
    const res = await t.http
      .post('/v1/recharges')
      .set('Authorization', auth)
      .set('Idempotency-Key', newKey())
      .send(body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.body.code).toBe('INVALID_ARGUMENT');
    expect([...new Set(res.body.errors.map((e: { field: string }) => e.field))]).toEqual([field]);
    expect(await writeCounts(t.databaseUrl)).toEqual(before);
  });
});
