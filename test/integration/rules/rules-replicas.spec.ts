import { Logger } from '@nestjs/common';
import { Webhook } from 'standardwebhooks';
import { BssSimulator, createBssSimulator } from '../../../libs/bss-simulator';
import { RechargeProvider } from '../../../src/recharge/application/ports/recharge-provider';
import { DeliverCallbacksUseCase } from '../../../src/recharge/application/deliver-callbacks.use-case';
import { EvaluateRuleUseCase, RuleSettings } from '../../../src/rules/application/evaluate-rule.use-case';
import { RuleRepository } from '../../../src/rules/application/ports/rule.repository';
import { RuleTelemetry } from '../../../src/rules/application/ports/rule-telemetry';
import { TopUpRecharges } from '../../../src/rules/application/ports/top-up-recharges';
import { CallbackReceiver, metricValue, startCallbackReceiver } from '../../support/confirmations';
import { createTestDatabase, query } from '../../support/database';
import { dispatcherEnv, newAccountId } from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';
import { FakeClock } from '../../support/rule-fakes';
import { startTestAppOn, TestApp } from '../../support/test-app';

/**
 * What the database decides for the rules: two replicas on one PostgreSQL evaluating the same
 * rule at the same moment, a replica dying between recording a trigger and creating its recharge,
 * leases, and the whole pipeline (rule → recharge → provider → final state → next evaluation).
 */
describe('rules across replicas (issue 15)', () => {
  let sim: BssSimulator;
  let receiver: CallbackReceiver;
  let databaseUrl: string;
  let a: TestApp;
  let b: TestApp;
  /** A third replica whose dispatcher runs, started once the tests need recharges to go out. */
  let d: TestApp | undefined;
  let env: Record<string, string>;
  let auth: string;
  let webhookSecret: string;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 1000 });
    receiver = await startCallbackReceiver();
    databaseUrl = await createTestDatabase();
    env = dispatcherEnv(sim, {
      DISPATCHER_ENABLED: 'false',
      PROVIDER_MAX_RPS: '200',
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1,hooks.example.com',
      // The receiver listens on loopback, which the sender refuses unless private networks are allowed.
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    a = await startTestAppOn(databaseUrl, env);
    b = await startTestAppOn(databaseUrl, env);
    const client = await a.createClient(['*']);
    auth = `Bearer ${client.apiKey}`;
    webhookSecret = client.webhookSecret;
  });

  afterAll(async () => {
    await d?.close();
    await a?.close();
    await b?.close();
    await receiver?.close();
    await sim?.close();
  });

  async function newRule(
    overrides: Record<string, unknown> = {},
    quota = '10.00',
  ): Promise<{ id: string; accountId: string }> {
    const accountId = newAccountId();
    sim.setAccount(accountId, { quota, consumed: '0' });
    const res = await a.http
      .post('/v1/rules')
      .set('Authorization', auth)
      .send({
        accountId,
        currency: 'CNY',
        trigger: { type: 'threshold', below: 50000 },
        topUp: { type: 'target', amount: 200000 },
        ...overrides,
      })
      .expect(201);
    return { id: res.body.id, accountId };
  }

  const topUpsOf = (ruleId: string) =>
    query<{ n: number; amount: string; recharge_id: string | null }>(
      databaseUrl,
      'SELECT n, amount, recharge_id FROM rule_top_ups WHERE rule_id = $1 ORDER BY n',
      [ruleId],
    );
  const rechargesOf = (ruleId: string) =>
    query<{ id: string; idempotency_key: string; amount: string; state: string }>(
      databaseUrl,
      `SELECT id, idempotency_key, amount, state FROM recharges WHERE metadata->>'ruleId' = $1 ORDER BY id`,
      [ruleId],
    );

  async function dispatcherRunning(): Promise<void> {
    d ??= await startTestAppOn(databaseUrl, { ...env, DISPATCHER_ENABLED: 'true' });
  }

  const finalState = (ruleId: string, index: number) =>
    waitFor(
      async () => {
        const state = (await rechargesOf(ruleId))[index]?.state;
        return state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELED' ? state : null;
      },
      15_000,
      `top-up ${index + 1} of ${ruleId} to be final`,
    );

  it('two replicas evaluating the same rules at the same moment: one top-up per rule', async () => {
    const rules = await Promise.all([1, 2, 3, 4, 5].map(() => newRule()));
    const verdicts = await Promise.all(
      rules.flatMap((r) => [
        a.app.get(EvaluateRuleUseCase).evaluate(r.id),
        b.app.get(EvaluateRuleUseCase).evaluate(r.id),
      ]),
    );
    expect(verdicts.filter((v) => v!.decision === 'topped_up')).toHaveLength(5);
    for (const r of rules) {
      expect(await topUpsOf(r.id)).toEqual([{ n: 1, amount: '199000', recharge_id: expect.stringMatching(/^rch_/) }]);
      expect(await rechargesOf(r.id)).toEqual([
        { id: expect.any(String), idempotency_key: `rule:${r.id}:1`, amount: '199000', state: 'CREATED' },
      ]);
    }
  });

  it('due rules are claimed by one replica each (SKIP LOCKED leases)', async () => {
    const rules = await Promise.all([1, 2, 3, 4, 5, 6].map(() => newRule({ dryRun: true })));
    const [fromA, fromB] = await Promise.all([
      a.app.get(EvaluateRuleUseCase).claimDue(100),
      b.app.get(EvaluateRuleUseCase).claimDue(100),
    ]);
    const ids = rules.map((r) => r.id);
    const claimed = [...fromA, ...fromB].filter((id) => ids.includes(id));
    expect(claimed.sort()).toEqual([...ids].sort());
    // Leased: nobody claims them again until the lease runs out.
    const again = await a.app.get(EvaluateRuleUseCase).claimDue(100);
    expect(again.filter((id) => ids.includes(id))).toEqual([]);
  });

  it('a replica that dies after recording the trigger: another finishes that same trigger, once', async () => {
    const rule = await newRule();
    const crashing = new EvaluateRuleUseCase(
      a.app.get(RuleRepository),
      a.app.get(RechargeProvider),
      new (class extends TopUpRecharges {
        create(): Promise<never> {
          return Promise.reject(new Error('SIGKILL'));
        }
      })(),
      a.app.get(RuleTelemetry),
      a.app.get(RuleSettings),
      new FakeClock(new Date()),
    );
    await expect(crashing.evaluate(rule.id)).rejects.toThrow('SIGKILL');
    expect(await topUpsOf(rule.id)).toEqual([{ n: 1, amount: '199000', recharge_id: null }]);
    expect(await rechargesOf(rule.id)).toEqual([]);
    expect(await b.app.get(EvaluateRuleUseCase).evaluate(rule.id)).toMatchObject({ decision: 'pending' });
    expect(await b.app.get(EvaluateRuleUseCase).evaluate(rule.id)).toMatchObject({ decision: 'pending' });
    const recharges = await rechargesOf(rule.id);
    expect(recharges).toEqual([
      { id: expect.any(String), idempotency_key: `rule:${rule.id}:1`, amount: '199000', state: 'CREATED' },
    ]);
    expect(await topUpsOf(rule.id)).toEqual([{ n: 1, amount: '199000', recharge_id: recharges[0].id }]);
  });

  it('the pipeline: the top-up succeeds at the provider and the next evaluation does not top up again', async () => {
    const rule = await newRule({}, '100.00');
    const evaluate = a.app.get(EvaluateRuleUseCase);
    expect(await evaluate.evaluate(rule.id)).toMatchObject({ decision: 'topped_up', quota: 10000n });
    await dispatcherRunning();
    expect(await finalState(rule.id, 0)).toBe('SUCCEEDED');
    expect(sim.account(rule.accountId)!.available).toBe('2000.00');
    // Right after the credit: inside the cooldown, and nothing new however often it is evaluated.
    for (const replica of [a, b, a]) {
      expect((await replica.app.get(EvaluateRuleUseCase).evaluate(rule.id))!.decision).toBe('cooldown');
    }
    expect(await rechargesOf(rule.id)).toHaveLength(1);
  });

  it('three failed top-ups in a row: disabled, a signed rule.disabled callback, rules_disabled and the evaluation metric', async () => {
    const path = `/rules/${Date.now()}`;
    const rule = await newRule({ cooldownSeconds: 60, callbackUrl: `${receiver.url}${path}` });
    sim.addFaults([{ fault: 'notAuthorized', ownerId: rule.accountId }]);
    await dispatcherRunning();
    // Rule time runs ahead of the wall clock so the cooldowns pass without waiting.
    const clock = new FakeClock(new Date(Date.now() + 3600_000));
    const evaluate = new EvaluateRuleUseCase(
      a.app.get(RuleRepository),
      a.app.get(RechargeProvider),
      a.app.get(TopUpRecharges),
      a.app.get(RuleTelemetry),
      a.app.get(RuleSettings),
      clock,
    );
    for (let n = 1; n <= 3; n++) {
      expect((await evaluate.evaluate(rule.id))!.decision).toBe('topped_up');
      expect(await finalState(rule.id, n - 1)).toBe('FAILED');
      clock.advance(61_000);
    }
    expect(await evaluate.evaluate(rule.id)).toMatchObject({ decision: 'disabled' });
    const got = (await a.http.get(`/v1/rules/${rule.id}`).set('Authorization', auth).expect(200)).body;
    expect(got).toMatchObject({
      status: 'disabled',
      consecutiveFailures: 3,
      disabledReason: '3 top-ups in a row did not succeed',
    });
    expect(await rechargesOf(rule.id)).toHaveLength(3);

    // The callback was queued at rule time, an hour ahead of the outbox's wall clock.
    await query(databaseUrl, 'UPDATE callback_deliveries SET next_attempt_at = now() WHERE rule_id = $1', [rule.id]);
    await waitFor(
      async () => {
        await a.app.get(DeliverCallbacksUseCase).deliverDue(20);
        return receiver.received.filter((c) => c.url === path).length === 4;
      },
      10_000,
      'three recharge callbacks and the rule.disabled callback',
    );
    const callback = receiver.received.find((c) => c.url === path && JSON.parse(c.body).type === 'rule.disabled')!;
    const event = new Webhook(webhookSecret).verify(callback.body, {
      'webhook-id': String(callback.headers['webhook-id']),
      'webhook-timestamp': String(callback.headers['webhook-timestamp']),
      'webhook-signature': String(callback.headers['webhook-signature']),
    }) as Record<string, any>;
    expect(event).toMatchObject({
      type: 'rule.disabled',
      subject: rule.id,
      data: { id: rule.id, status: 'disabled', consecutiveFailures: 3 },
    });
    // The recharges' own callbacks went to the same URL (they are ordinary recharges).
    expect(
      receiver.received
        .filter((c) => c.url === path)
        .map((c) => JSON.parse(c.body).type)
        .sort(),
    ).toEqual(['recharge.failed', 'recharge.failed', 'recharge.failed', 'rule.disabled']);

    const metrics = (await a.http.get('/metrics').expect(200)).text;
    expect(metricValue(metrics, 'rules_disabled')).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'rule_evaluations_total', { decision: 'disabled' })).toBe(1);
    expect(metricValue(metrics, 'rule_evaluations_total', { decision: 'topped_up' })).toBeGreaterThanOrEqual(3);

    // Re-activated, its run of failures starts again from zero.
    sim.clearFaults();
    const resumed = await a.http
      .patch(`/v1/rules/${rule.id}`)
      .set('Authorization', auth)
      .send({ status: 'active' })
      .expect(200);
    expect(resumed.body).toMatchObject({ status: 'active', consecutiveFailures: 0 });
  });
});
