import { Logger } from '@nestjs/common';
import { FakeQuotaProvider, ruleRig, RuleRig } from '../../../test/support/rule-fakes';
import { resolveSpec, Rule, RuleDraft } from '../domain/rule';

/**
 * The guards of the auto-recharge rules, each on its own, on the use-case tier: in-memory ports
 * and a clock that moves only when the test moves it.
 */

const MINUTE = 60_000;
let seq = 0;

async function addRule(rig: RuleRig, overrides: Partial<RuleDraft> = {}): Promise<Rule> {
  const draft: RuleDraft = {
    accountId: '1234567890123456',
    currency: 'CNY',
    trigger: { type: 'threshold', below: 50_000n },
    topUp: { type: 'target', amount: 200_000n },
    callbackUrl: 'https://hooks.example.com/rules',
    ...overrides,
  };
  seq += 1;
  const rule = Rule.create(
    `rul_${String(seq).padStart(32, '0')}`,
    'cli_test',
    resolveSpec(draft, 100_000_000n),
    rig.clock.now(),
  );
  await rig.repo.create(rule);
  return rule;
}

const nonFinal = (rig: RuleRig) => rig.topUps.recharges.filter((r) => r.state === 'open');

beforeAll(() => Logger.overrideLogger(false));

describe('EvaluateRuleUseCase', () => {
  it('threshold: exactly one top-up, of target − quota to the minor unit', async () => {
    const rig = ruleRig();
    rig.provider.quota = 12_345n;
    const rule = await addRule(rig);
    expect(await rig.useCase.evaluate(rule.id)).toMatchObject({ decision: 'topped_up', quota: 12_345n });
    expect(rig.topUps.recharges).toHaveLength(1);
    expect(rig.topUps.last.request).toMatchObject({ amount: 187_655n, ruleId: rule.id, n: 1, currency: 'CNY' });
    expect(rig.topUps.last.key).toBe(`rule:${rule.id}:1`);
    rig.clock.advance(5 * MINUTE);
    expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('pending');
    expect(rig.topUps.recharges).toHaveLength(1);
  });

  it('above the threshold: no top-up', async () => {
    const rig = ruleRig();
    rig.provider.quota = 50_000n;
    const rule = await addRule(rig);
    expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('above_threshold');
    expect(rig.topUps.recharges).toHaveLength(0);
  });

  it('guard: never a second top-up while one of the rule is not final', async () => {
    const rig = ruleRig();
    rig.provider.quota = 0n;
    const rule = await addRule(rig, { cooldownSeconds: 60 });
    await rig.useCase.evaluate(rule.id);
    rig.clock.advance(60 * MINUTE); // far past the cooldown; the quota is still 0
    const verdict = await rig.useCase.evaluate(rule.id);
    expect(verdict).toMatchObject({ decision: 'pending', reason: expect.stringContaining('not final') });
    expect(rig.topUps.recharges).toHaveLength(1);
    // Once it is final (and the quota shows it), the rule works again.
    rig.topUps.finish(rig.topUps.last.id, 'SUCCEEDED');
    rig.clock.advance(MINUTE);
    rig.provider.quota = 200_000n;
    expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('above_threshold');
  });

  it('guard: a stale quota read (sent before the last top-up became final) does not top up again', async () => {
    const rig = ruleRig();
    rig.provider.quota = 10_000n;
    const rule = await addRule(rig, { cooldownSeconds: 60 });
    // Replica A's read is in flight with the old quota...
    const release = rig.provider.hold();
    const slow = rig.useCase.evaluate(rule.id);
    await new Promise((resolve) => setImmediate(resolve));
    // ...meanwhile replica B (A's lease ran out) tops up, the credit lands and the cooldown passes.
    const b = rig.replica();
    expect((await b.evaluate(rule.id))!.decision).toBe('topped_up');
    rig.clock.advance(30_000);
    rig.topUps.finish(rig.topUps.last.id, 'SUCCEEDED');
    rig.clock.advance(2 * MINUTE);
    release();
    const verdict = await slow;
    expect(verdict).toMatchObject({
      decision: 'pending',
      quota: 10_000n,
      reason: expect.stringContaining('before top-up 1 became final'),
    });
    expect(rig.topUps.recharges).toHaveLength(1);
  });

  it('guard: never inside the cooldown', async () => {
    const rig = ruleRig();
    rig.provider.quota = 0n;
    const rule = await addRule(rig, { cooldownSeconds: 600, topUp: { type: 'fixed', amount: 1_000n } });
    await rig.useCase.evaluate(rule.id);
    rig.topUps.finish(rig.topUps.last.id, 'SUCCEEDED');
    rig.clock.advance(599_000);
    expect(await rig.useCase.evaluate(rule.id)).toMatchObject({ decision: 'cooldown' });
    expect(rig.provider.reads).toBe(1); // the cooldown is checked before spending a quota read
    rig.clock.advance(1_000);
    expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('topped_up');
    expect(rig.topUps.recharges).toHaveLength(2);
  });

  describe('guard: never past a limit (cap_reached), each limit on its own', () => {
    const fixed = { type: 'fixed' as const, amount: 1_000n };
    async function topUpsUntilCapped(rig: RuleRig, rule: Rule, stepMs: number): Promise<number> {
      for (let i = 0; i < 10; i++) {
        const verdict = (await rig.useCase.evaluate(rule.id))!;
        if (verdict.decision === 'cap_reached') return rig.topUps.recharges.length;
        expect(verdict.decision).toBe('topped_up');
        rig.topUps.finish(rig.topUps.last.id, 'SUCCEEDED');
        rig.clock.advance(stepMs);
      }
      throw new Error('never capped');
    }

    it('maxCountPerDay', async () => {
      const rig = ruleRig('2026-12-03T00:00:00Z');
      const rule = await addRule(rig, { topUp: fixed, limits: { maxCountPerDay: 3 }, cooldownSeconds: 60 });
      expect(await topUpsUntilCapped(rig, rule, 10 * MINUTE)).toBe(3);
      expect(rig.repo.evaluationLog.at(-1)!.reason).toMatch(/3 top-ups today \(limit 3\)/);
      rig.clock.set('2026-12-04T00:00:01Z'); // a new day (UTC)
      expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('topped_up');
    });

    it('maxAmountPerDay, with the amount of the top-up it would make', async () => {
      const rig = ruleRig('2026-12-03T00:00:00Z');
      const rule = await addRule(rig, { topUp: fixed, limits: { maxAmountPerDay: 2_500n }, cooldownSeconds: 60 });
      expect(await topUpsUntilCapped(rig, rule, 10 * MINUTE)).toBe(2);
      expect(rig.repo.evaluationLog.at(-1)!.reason).toMatch(
        /2000 topped up today \+ 1000 would pass the daily limit 2500/,
      );
    });

    it('maxCountPerMonth', async () => {
      const rig = ruleRig('2026-12-01T00:00:00Z');
      const rule = await addRule(rig, { topUp: fixed, limits: { maxCountPerMonth: 4 }, cooldownSeconds: 60 });
      expect(await topUpsUntilCapped(rig, rule, 24 * 60 * MINUTE)).toBe(4);
    });

    it('maxAmountPerMonth, counting days in the rule’s time zone', async () => {
      // 23:30 UTC on 30 Nov is already 1 December in Shanghai: the same month as the next top-ups.
      const rig = ruleRig('2026-11-30T23:30:00Z');
      const rule = await addRule(rig, {
        trigger: { type: 'schedule', cron: '*/30 * * * *', timezone: 'Asia/Shanghai' },
        topUp: fixed,
        limits: { maxAmountPerMonth: 3_000n },
        cooldownSeconds: 60,
      });
      rig.topUps.autoFinish = 'SUCCEEDED';
      const decisions: string[] = [];
      for (let i = 0; i < 8; i++) {
        decisions.push((await rig.useCase.evaluate(rule.id))!.decision);
        rig.clock.advance(30 * MINUTE);
      }
      expect(decisions.filter((d) => d === 'topped_up')).toHaveLength(3);
      expect(decisions).toContain('cap_reached');
    });

    it('a failed top-up that certainly moved no money does not count; a TIMEOUT does', async () => {
      const rig = ruleRig('2026-12-03T00:00:00Z');
      const rule = await addRule(rig, { topUp: fixed, limits: { maxCountPerDay: 2 }, cooldownSeconds: 60 });
      await rig.useCase.evaluate(rule.id);
      rig.topUps.finish(rig.topUps.last.id, 'FAILED', 'PROVIDER_REJECTED');
      rig.clock.advance(2 * MINUTE);
      await rig.useCase.evaluate(rule.id);
      rig.topUps.finish(rig.topUps.last.id, 'FAILED', 'TIMEOUT');
      rig.clock.advance(2 * MINUTE);
      expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('topped_up');
      rig.topUps.finish(rig.topUps.last.id, 'SUCCEEDED');
      rig.clock.advance(2 * MINUTE);
      expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('cap_reached');
    });
  });

  it(`three failed top-ups in a row → disabled, a rule.disabled callback, the gauge`, async () => {
    const rig = ruleRig();
    rig.provider.quota = 0n;
    const rule = await addRule(rig, { cooldownSeconds: 60 });
    for (let i = 0; i < 3; i++) {
      expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('topped_up');
      rig.topUps.finish(rig.topUps.last.id, 'FAILED', i === 1 ? 'TIMEOUT' : 'PROVIDER_REJECTED');
      rig.clock.advance(2 * MINUTE);
    }
    expect(await rig.useCase.evaluate(rule.id)).toMatchObject({
      decision: 'disabled',
      reason: '3 top-ups in a row did not succeed',
    });
    const stored = (await rig.repo.find(rule.id))!.rule;
    expect(stored).toMatchObject({ status: 'disabled', consecutiveFailures: 3, dueAt: null });
    expect(rig.topUps.recharges).toHaveLength(3);
    expect(rig.telemetry.disabled).toBe(1);
    expect(rig.repo.callbacks).toHaveLength(1);
    const event = JSON.parse(rig.repo.callbacks[0].payload);
    expect(rig.repo.callbacks[0]).toMatchObject({ url: 'https://hooks.example.com/rules', eventType: 'rule.disabled' });
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'rule.disabled',
      subject: rule.id,
      data: { id: rule.id, status: 'disabled', consecutiveFailures: 3 },
    });
    // Disabled rules are not claimed any more.
    rig.clock.advance(60 * MINUTE);
    expect(await rig.repo.claimDue(10, rig.clock.now(), rig.clock.now())).toEqual([]);
  });

  it('a success between failures resets the run', async () => {
    const rig = ruleRig();
    rig.provider.quota = 0n;
    const rule = await addRule(rig, { cooldownSeconds: 60 });
    for (const outcome of ['FAILED', 'FAILED', 'SUCCEEDED', 'FAILED', 'FAILED'] as const) {
      expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('topped_up');
      rig.topUps.finish(rig.topUps.last.id, outcome);
      rig.clock.advance(2 * MINUTE);
    }
    expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('topped_up');
    expect((await rig.repo.find(rule.id))!.rule).toMatchObject({ status: 'active', consecutiveFailures: 2 });
  });

  it('a refused top-up (policy) counts as a failure and creates nothing', async () => {
    const rig = ruleRig('2026-12-03T10:00:00Z', 2);
    rig.provider.quota = 0n;
    const rule = await addRule(rig, { cooldownSeconds: 60 });
    rig.topUps.refuseWith = 'this client may not recharge account 1234567890123456';
    for (let i = 0; i < 2; i++) {
      await rig.useCase.evaluate(rule.id);
      rig.clock.advance(2 * MINUTE);
    }
    expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('disabled');
    expect(rig.topUps.recharges).toHaveLength(0);
  });

  it('dry run: records the decision and the amount, creates nothing', async () => {
    const rig = ruleRig();
    rig.provider.quota = 1_000n;
    const rule = await addRule(rig, { dryRun: true });
    expect(await rig.useCase.evaluate(rule.id)).toMatchObject({ decision: 'dry_run', reason: 'would top up 199000' });
    rig.clock.advance(10 * MINUTE);
    expect((await rig.useCase.evaluate(rule.id))!.decision).toBe('dry_run');
    expect(rig.topUps.recharges).toHaveLength(0);
    expect(rig.repo.topUps.get(rule.id)).toEqual([]);
  });

  it('a failed quota read is quota_unavailable, never a top-up', async () => {
    const rig = ruleRig();
    rig.provider.failWith = 'Throttling.User: Request was denied due to user flow control.';
    const rule = await addRule(rig);
    expect(await rig.useCase.evaluate(rule.id)).toMatchObject({
      decision: 'quota_unavailable',
      quota: null,
      reason: expect.stringContaining('Throttling.User'),
    });
    expect(rig.topUps.recharges).toHaveLength(0);
  });

  it('a crash between recording the trigger and creating its recharge: the next evaluation finishes the same trigger', async () => {
    const rig = ruleRig();
    rig.provider.quota = 0n;
    const rule = await addRule(rig);
    rig.topUps.failNext = 1;
    await expect(rig.useCase.evaluate(rule.id)).rejects.toThrow('simulated crash');
    expect(rig.topUps.recharges).toHaveLength(0);
    rig.clock.advance(3 * MINUTE); // the lease ran out; another replica takes the rule
    expect((await rig.replica().evaluate(rule.id))!.decision).toBe('pending');
    expect(rig.topUps.recharges).toHaveLength(1);
    expect(rig.topUps.last).toMatchObject({ key: `rule:${rule.id}:1`, request: { amount: 200_000n } });
    // And a retry of the same trigger is a replay, not a second recharge.
    await rig.topUps.create(rig.topUps.last.request);
    expect(rig.topUps.recharges).toHaveLength(1);
  });

  it('two evaluations at once (no lease between them): one top-up', async () => {
    const rig = ruleRig();
    rig.provider.quota = 0n;
    const rule = await addRule(rig);
    const verdicts = await Promise.all([rig.useCase.evaluate(rule.id), rig.replica().evaluate(rule.id)]);
    expect(verdicts.map((v) => v!.decision).sort()).toEqual(['pending', 'topped_up']);
    expect(rig.topUps.recharges).toHaveLength(1);
    expect(nonFinal(rig)).toHaveLength(1);
  });

  it('a paused rule is not claimed; resuming evaluates it at once', async () => {
    const rig = ruleRig();
    rig.provider.quota = 0n;
    const rule = await addRule(rig);
    await rig.repo.update(rule.id, (r) => r.change(r.spec, 'paused', rig.clock.now()));
    rig.clock.advance(60 * MINUTE);
    expect(await rig.useCase.claimDue(10)).toEqual([]);
    await rig.repo.update(rule.id, (r) => r.change(r.spec, 'active', rig.clock.now()));
    expect(await rig.useCase.claimDue(10)).toEqual([rule.id]);
  });

  describe('schedule: once per period, DST-correct (Europe/Berlin)', () => {
    async function runDays(rig: RuleRig, rule: Rule, from: string, to: string) {
      rig.clock.set(from);
      rig.topUps.autoFinish = 'SUCCEEDED';
      while (rig.clock.now() < new Date(to)) {
        for (const id of await rig.useCase.claimDue(5)) await rig.useCase.evaluate(id);
        rig.clock.advance(5 * MINUTE);
      }
      return rig.topUps.recharges.map((r) => rig.repo.topUps.get(rule.id)!.find((t) => t.rechargeId === r.id)!);
    }

    it.each([
      [
        'spring forward (02:30 does not exist on 29 March)',
        '2026-03-27T12:00:00Z',
        '2026-03-31T12:00:00Z',
        [
          '2026-03-28T01:30:00.000Z',
          '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first instant after the gap
          '2026-03-30T00:30:00.000Z',
          '2026-03-31T00:30:00.000Z',
        ],
      ],
      [
        'fall back (02:30 happens twice on 25 October)',
        '2026-10-23T12:00:00Z',
        '2026-10-27T12:00:00Z',
        [
          '2026-10-24T00:30:00.000Z',
          '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST) only
          '2026-10-26T01:30:00.000Z',
          '2026-10-27T01:30:00.000Z',
        ],
      ],
    ])('%s', async (_name, from, to, slots) => {
      const rig = ruleRig(from);
      const rule = await addRule(rig, {
        trigger: { type: 'schedule', cron: '30 2 * * *', timezone: 'Europe/Berlin' },
        topUp: { type: 'fixed', amount: 10_000n },
      });
      const topUps = await runDays(rig, rule, from, to);
      expect(topUps.map((t) => t.slotAt!.toISOString())).toEqual(slots);
      expect(new Set(rig.topUps.recharges.map((r) => r.key)).size).toBe(slots.length);
      expect(rig.provider.reads).toBe(0); // a fixed schedule needs no quota
    });

    it('a replica that dies after recording the slot: the slot is topped up once, by another replica', async () => {
      const rig = ruleRig('2026-03-29T00:55:00Z');
      const rule = await addRule(rig, {
        trigger: { type: 'schedule', cron: '30 2 * * *', timezone: 'Europe/Berlin' },
        topUp: { type: 'fixed', amount: 10_000n },
      });
      await rig.useCase.evaluate(rule.id); // not_due, slot = 03:00 CEST
      rig.clock.set('2026-03-29T01:00:00Z');
      rig.topUps.failNext = 1;
      expect(await rig.useCase.claimDue(5)).toEqual([rule.id]);
      await expect(rig.useCase.evaluate(rule.id)).rejects.toThrow('simulated crash');
      // The trigger was committed before the crash, so the rule is due again a minute later (to
      // settle its top-up), not only when the lease would have run out; another replica takes it.
      rig.clock.advance(30_000);
      expect(await rig.useCase.claimDue(5)).toEqual([]);
      rig.clock.advance(30_000);
      const other = rig.replica();
      expect(await other.claimDue(5)).toEqual([rule.id]);
      await other.evaluate(rule.id);
      expect(rig.topUps.recharges).toHaveLength(1);
      rig.topUps.finish(rig.topUps.last.id, 'SUCCEEDED');
      // The rest of the day brings nothing more; the next day's slot fires once.
      await runDays(rig, rule, '2026-03-29T01:05:00Z', '2026-03-30T01:00:00Z');
      expect(rig.repo.topUps.get(rule.id)!.map((t) => t.slotAt!.toISOString())).toEqual([
        '2026-03-29T01:00:00.000Z',
        '2026-03-30T00:30:00.000Z',
      ]);
    });
  });

  it('the provider fake answers with the quota it had when the query arrived', async () => {
    const p = new FakeQuotaProvider();
    p.quota = 5n;
    const release = p.hold();
    const read = p.availableQuota('1', 'CNY');
    p.quota = 9n;
    release();
    expect((await read).available.minor).toBe(5n);
  });
});
