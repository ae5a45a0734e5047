import { BssSimulator, createBssSimulator } from '../../libs/bss-simulator';
import { EvaluateRuleUseCase } from '../../src/rules/application/evaluate-rule.use-case';
import { createTestDatabase, query } from '../support/database';
import { dispatcherEnv, newAccountId } from '../support/dispatcher-harness';
import { newKey, PROBLEM_JSON } from '../support/e2e-helpers';
import { startTestAppOn, TestApp } from '../support/test-app';

/** /v1/rules through HTTP on a real PostgreSQL; quota reads go to the simulator through pop-core. */
describe('rules API (issue 15)', () => {
  let sim: BssSimulator;
  let t: TestApp;
  let auth: string;
  let otherAuth: string;
  let narrowAuth: string;

  beforeAll(async () => {
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 1000 });
    t = await startTestAppOn(await createTestDatabase(), dispatcherEnv(sim, { DISPATCHER_ENABLED: 'false' }));
    auth = `Bearer ${(await t.createClient(['*'])).apiKey}`;
    otherAuth = `Bearer ${(await t.createClient(['*'])).apiKey}`;
    narrowAuth = `Bearer ${(await t.createClient(['1111'])).apiKey}`;
  });

  afterAll(async () => {
    await t?.close();
    await sim?.close();
  });

  const body = (overrides: Record<string, unknown> = {}) => ({
    accountId: newAccountId(),
    currency: 'CNY',
    trigger: { type: 'threshold', below: 50000 },
    topUp: { type: 'target', amount: 200000 },
    ...overrides,
  });
  const post = (b: unknown, as = auth) =>
    t.http
      .post('/v1/rules')
      .set('Authorization', as)
      .send(b as object);
  const ruleCount = async () =>
    (await query<{ n: number }>(t.databaseUrl, 'SELECT count(*)::int AS n FROM rules'))[0].n;

  it('POST → 201 with the rule, defaults applied, Location set', async () => {
    const b = body({
      limits: { maxAmountPerDay: 500000, maxCountPerDay: 5 },
      callbackUrl: 'https://hooks.example.com/rules',
    });
    const res = await post(b).expect(201);
    expect(res.headers.location).toBe(`/v1/rules/${res.body.id}`);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^rul_[0-9a-f]{32}$/),
      accountId: b.accountId,
      currency: 'CNY',
      trigger: { type: 'threshold', below: 50000 },
      topUp: { type: 'target', amount: 200000 },
      limits: { maxAmountPerDay: 500000, maxCountPerDay: 5 },
      cooldownSeconds: 600,
      checkIntervalSeconds: 300,
      callbackUrl: 'https://hooks.example.com/rules',
      dryRun: false,
      status: 'active',
      disabledReason: null,
      consecutiveFailures: 0,
      lastEvaluation: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const schedule = await post(
      body({
        trigger: { type: 'schedule', cron: '0 9 1 * *', timezone: 'Asia/Shanghai' },
        topUp: { type: 'fixed', amount: 100 },
      }),
    ).expect(201);
    expect(schedule.body).toMatchObject({
      trigger: { type: 'schedule', cron: '0 9 1 * *', timezone: 'Asia/Shanghai' },
      checkIntervalSeconds: null,
    });
  });

  it('a rule for an account the client may not touch → 403, nothing stored', async () => {
    const before = await ruleCount();
    const res = await post(body({ accountId: '2222' }), narrowAuth).expect(403);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.body).toMatchObject({ code: 'UNAUTHORIZED', correlationId: expect.any(String) });
    expect(await ruleCount()).toBe(before);
    await post(body({ accountId: '1111' }), narrowAuth).expect(201);
    await t.http.get('/v1/rules?accountId=2222').set('Authorization', narrowAuth).expect(403);
  });

  it.each([
    ['an unknown field', { extra: 1 }, 'extra'],
    ['an accountId with a leading zero (a second ledger for account 123)', { accountId: '0123' }, 'accountId'],
    ['the accountId 0', { accountId: '0' }, 'accountId'],
    ['an unknown field inside trigger', { trigger: { type: 'threshold', below: 1, above: 2 } }, 'trigger.above'],
    ['an amount above MAX_RECHARGE_AMOUNT', { topUp: { type: 'fixed', amount: 100000001 } }, 'topUp.amount'],
    ['a float amount', { topUp: { type: 'fixed', amount: 10.5 } }, 'topUp.amount'],
    ['a cooldown under 60 s', { cooldownSeconds: 59 }, 'cooldownSeconds'],
    ['a check interval under 60 s', { checkIntervalSeconds: 30 }, 'checkIntervalSeconds'],
    [
      'a check interval on a schedule',
      {
        trigger: { type: 'schedule', cron: '0 9 * * *' },
        topUp: { type: 'fixed', amount: 1 },
        checkIntervalSeconds: 300,
      },
      'checkIntervalSeconds',
    ],
    [
      'a 6-field cron',
      { trigger: { type: 'schedule', cron: '0 0 9 * * *' }, topUp: { type: 'fixed', amount: 1 } },
      'trigger.cron',
    ],
    [
      'a cron that does not parse',
      { trigger: { type: 'schedule', cron: '61 * * * *' }, topUp: { type: 'fixed', amount: 1 } },
      'trigger.cron',
    ],
    [
      'an unknown time zone',
      {
        trigger: { type: 'schedule', cron: '0 9 * * *', timezone: 'Mars/Olympus' },
        topUp: { type: 'fixed', amount: 1 },
      },
      'trigger.timezone',
    ],
    ['a target top-up on a schedule', { trigger: { type: 'schedule', cron: '0 9 * * *' } }, 'topUp.type'],
    ['a target not above the threshold', { topUp: { type: 'target', amount: 50000 } }, 'topUp.amount'],
    ['a threshold without below', { trigger: { type: 'threshold' } }, 'trigger.below'],
    ['a callback host outside the allowlist', { callbackUrl: 'https://evil.example.org/x' }, 'callbackUrl'],
    ['a callback URL with user info', { callbackUrl: 'https://user:pw@hooks.example.com/x' }, 'callbackUrl'],
    ['a callback URL with a user name only', { callbackUrl: 'https://user@hooks.example.com/x' }, 'callbackUrl'],
    ['the apex of a wildcard host', { callbackUrl: 'https://callbacks.test/x' }, 'callbackUrl'],
    ['a look-alike of an allowed host', { callbackUrl: 'https://hooks.example.com.evil.org/x' }, 'callbackUrl'],
    ['a missing topUp', { topUp: undefined }, 'topUp'],
    ['a null trigger', { trigger: null }, 'trigger'],
  ])('%s → 400 naming the field, nothing stored', async (_name, overrides, field) => {
    const before = await ruleCount();
    const res = await post(body(overrides as Record<string, unknown>)).expect(400);
    expect(res.body.code).toBe('INVALID_ARGUMENT');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await ruleCount()).toBe(before);
  });

  it("callbackUrl is checked exactly like a recharge's: the same answers on both paths, on POST and PATCH", async () => {
    const urls = [
      'https://user:s3cret-pw@hooks.example.com/x',
      'https://user@hooks.example.com/x',
      'https://callbacks.test/x',
      'https://evil.example.org/x',
    ];
    for (const callbackUrl of urls) {
      const rule = await post(body({ callbackUrl })).expect(400);
      const recharge = await t.http
        .post('/v1/recharges')
        .set('Authorization', auth)
        .set('Idempotency-Key', newKey())
        .send({ accountId: newAccountId(), amount: 100, currency: 'CNY', callbackUrl })
        .expect(400);
      expect(rule.body.errors).toEqual(recharge.body.errors);
      expect(JSON.stringify(rule.body)).not.toContain('s3cret-pw');
    }
    // A subdomain of a wildcard entry and an exact entry are accepted.
    const ok = await post(body({ callbackUrl: 'https://a.callbacks.test/rules' })).expect(201);
    await t.http
      .patch(`/v1/rules/${ok.body.id}`)
      .set('Authorization', auth)
      .send({ callbackUrl: 'https://hooks.example.com/rules' })
      .expect(200);
    const refused = await t.http
      .patch(`/v1/rules/${ok.body.id}`)
      .set('Authorization', auth)
      .send({ callbackUrl: 'https://user:s3cret-pw@hooks.example.com/rules' })
      .expect(400);
    expect(refused.body.errors).toEqual([
      { field: 'callbackUrl', message: 'callbackUrl must not carry user info (user:password@)' },
    ]);
    const stored = await t.http.get(`/v1/rules/${ok.body.id}`).set('Authorization', auth).expect(200);
    expect(stored.body.callbackUrl).toBe('https://hooks.example.com/rules');
  });

  it('one active rule per (client, account, currency): 409 INVALID_STATE, decided by the database', async () => {
    const accountId = newAccountId();
    const first = (await post(body({ accountId })).expect(201)).body;
    const again = await post(body({ accountId })).expect(409);
    expect(again.body.code).toBe('INVALID_STATE');
    // Concurrent creations: exactly one wins.
    const racing = newAccountId();
    const statuses = (await Promise.all([1, 2, 3, 4].map(() => post(body({ accountId: racing }))))).map(
      (r) => r.status,
    );
    expect(statuses.sort()).toEqual([201, 409, 409, 409]);
    // Another currency, another client: fine.
    await post(body({ accountId, currency: 'USD' })).expect(201);
    await post(body({ accountId }), otherAuth).expect(201);
    // Paused, the first no longer blocks a new one; resuming it then would make two → 409.
    await t.http.patch(`/v1/rules/${first.id}`).set('Authorization', auth).send({ status: 'paused' }).expect(200);
    await post(body({ accountId })).expect(201);
    const resume = await t.http.patch(`/v1/rules/${first.id}`).set('Authorization', auth).send({ status: 'active' });
    expect(resume.status).toBe(409);
  });

  it('GET one, list with filters and cursor; another client gets 404', async () => {
    const accountId = newAccountId();
    const a = (await post(body({ accountId })).expect(201)).body;
    const b = (await post(body({ accountId, currency: 'JPY' })).expect(201)).body;
    expect((await t.http.get(`/v1/rules/${a.id}`).set('Authorization', auth).expect(200)).body).toEqual(a);
    await t.http.get(`/v1/rules/${a.id}`).set('Authorization', otherAuth).expect(404);
    await t.http.get('/v1/rules/rul_nope').set('Authorization', auth).expect(404);
    const page1 = (await t.http.get(`/v1/rules?accountId=${accountId}&limit=1`).set('Authorization', auth).expect(200))
      .body;
    expect(page1.data.map((r: { id: string }) => r.id)).toEqual([b.id]);
    const page2 = (
      await t.http
        .get(`/v1/rules?accountId=${accountId}&limit=1&cursor=${page1.nextCursor}`)
        .set('Authorization', auth)
        .expect(200)
    ).body;
    expect(page2).toEqual({ data: [a], nextCursor: null });
    await t.http.patch(`/v1/rules/${a.id}`).set('Authorization', auth).send({ status: 'paused' }).expect(200);
    const paused = (
      await t.http.get(`/v1/rules?accountId=${accountId}&status=paused`).set('Authorization', auth).expect(200)
    ).body;
    expect(paused.data.map((r: { id: string }) => r.id)).toEqual([a.id]);
    await t.http.get('/v1/rules?status=gone').set('Authorization', auth).expect(400);
  });

  it('PATCH any field; re-activating a disabled rule resets consecutiveFailures and evaluates it at once', async () => {
    const rule = (await post(body()).expect(201)).body;
    const patched = await t.http
      .patch(`/v1/rules/${rule.id}`)
      .set('Authorization', auth)
      .send({ trigger: { type: 'threshold', below: 70000 }, limits: { maxCountPerMonth: 9 }, dryRun: true })
      .expect(200);
    expect(patched.body).toMatchObject({
      trigger: { below: 70000 },
      limits: { maxCountPerMonth: 9 },
      dryRun: true,
      topUp: rule.topUp,
    });
    await t.http.patch(`/v1/rules/${rule.id}`).set('Authorization', auth).send({ status: 'disabled' }).expect(400);
    await t.http.patch(`/v1/rules/${rule.id}`).set('Authorization', auth).send({ colour: 'red' }).expect(400);
    await t.http.patch(`/v1/rules/${rule.id}`).set('Authorization', otherAuth).send({ dryRun: false }).expect(404);
    await query(
      t.databaseUrl,
      `UPDATE rules SET status = 'disabled', disabled_reason = '3 top-ups in a row did not succeed', consecutive_failures = 3, due_at = NULL WHERE id = $1`,
      [rule.id],
    );
    const resumed = await t.http
      .patch(`/v1/rules/${rule.id}`)
      .set('Authorization', auth)
      .send({ status: 'active' })
      .expect(200);
    expect(resumed.body).toMatchObject({ status: 'active', consecutiveFailures: 0, disabledReason: null });
    const [row] = await query<{ due: boolean }>(
      t.databaseUrl,
      'SELECT due_at <= now() AS due FROM rules WHERE id = $1',
      [rule.id],
    );
    expect(row.due).toBe(true);
  });

  it('DELETE → 204; the rule is gone from the API, its history stays', async () => {
    const accountId = newAccountId();
    sim.setAccount(accountId, { quota: '900.00', consumed: '0' });
    const rule = (await post(body({ accountId })).expect(201)).body;
    await t.app.get(EvaluateRuleUseCase).evaluate(rule.id);
    await t.http.delete(`/v1/rules/${rule.id}`).set('Authorization', otherAuth).expect(404);
    await t.http.delete(`/v1/rules/${rule.id}`).set('Authorization', auth).expect(204);
    await t.http.get(`/v1/rules/${rule.id}`).set('Authorization', auth).expect(404);
    await t.http.delete(`/v1/rules/${rule.id}`).set('Authorization', auth).expect(404);
    const kept = await query(t.databaseUrl, 'SELECT decision FROM rule_evaluations WHERE rule_id = $1', [rule.id]);
    expect(kept).toEqual([{ decision: 'above_threshold' }]);
    // Deleted, it frees its (client, account, currency) slot.
    await post(body({ accountId })).expect(201);
  });

  it('evaluations: the top-up is an ordinary recharge of target − quota with metadata.ruleId and key rule:<id>:1', async () => {
    const accountId = newAccountId();
    sim.setAccount(accountId, { quota: '123.45', consumed: '0' });
    const rule = (await post(body({ accountId })).expect(201)).body;
    const evaluate = t.app.get(EvaluateRuleUseCase);
    expect(await evaluate.evaluate(rule.id)).toMatchObject({ decision: 'topped_up', quota: 12345n });
    expect(await evaluate.evaluate(rule.id)).toMatchObject({ decision: 'pending' });
    const evaluations = (await t.http.get(`/v1/rules/${rule.id}/evaluations`).set('Authorization', auth).expect(200))
      .body;
    expect(evaluations.data).toEqual([
      {
        at: expect.any(String),
        quota: null,
        decision: 'pending',
        reason: expect.stringContaining('not final'),
        rechargeId: null,
      },
      {
        at: expect.any(String),
        quota: 12345,
        decision: 'topped_up',
        reason: 'topping up 187655',
        rechargeId: expect.stringMatching(/^rch_/),
      },
    ]);
    const rechargeId = evaluations.data[1].rechargeId;
    const recharge = (await t.http.get(`/v1/recharges/${rechargeId}`).set('Authorization', auth).expect(200)).body;
    expect(recharge).toMatchObject({
      accountId,
      amount: 187655,
      currency: 'CNY',
      metadata: { ruleId: rule.id },
      state: 'CREATED',
    });
    const [row] = await query(t.databaseUrl, 'SELECT idempotency_key FROM recharges WHERE id = $1', [rechargeId]);
    expect(row).toEqual({ idempotency_key: `rule:${rule.id}:1` });
    const got = (await t.http.get(`/v1/rules/${rule.id}`).set('Authorization', auth).expect(200)).body;
    expect(got.lastEvaluation).toEqual(evaluations.data[0]);
    const page = (await t.http.get(`/v1/rules/${rule.id}/evaluations?limit=1`).set('Authorization', auth).expect(200))
      .body;
    const next = (
      await t.http
        .get(`/v1/rules/${rule.id}/evaluations?limit=1&cursor=${page.nextCursor}`)
        .set('Authorization', auth)
        .expect(200)
    ).body;
    expect(next.data).toEqual([evaluations.data[1]]);
    await t.http.get(`/v1/rules/${rule.id}/evaluations`).set('Authorization', otherAuth).expect(404);
  });

  it('evaluation history is append-only in the database', async () => {
    await expect(query(t.databaseUrl, 'UPDATE rule_evaluations SET reason = $1', ['x'])).rejects.toThrow(/append-only/);
    await expect(query(t.databaseUrl, 'DELETE FROM rule_evaluations')).rejects.toThrow(/append-only/);
  });
});
