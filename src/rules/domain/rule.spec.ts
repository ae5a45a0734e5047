import { DomainError } from '../../../libs/shared/domain-error';
import { resolveSpec, Rule, RuleDraft } from './rule';
import { localDay, nextRunAfter, scheduleProblem } from './schedule';

const draft = (overrides: Partial<RuleDraft> = {}): RuleDraft => ({
  accountId: '1234567890123456',
  currency: 'CNY',
  trigger: { type: 'threshold', below: 50_000n },
  topUp: { type: 'target', amount: 200_000n },
  callbackUrl: null,
  ...overrides,
});
const now = new Date('2026-12-03T10:00:00Z');
const fieldsOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as DomainError).fieldErrors.map((e) => e.field);
  }
  throw new Error('no error');
};

describe('resolveSpec', () => {
  it('applies the defaults: cooldown 600 s, check interval 300 s (threshold only), no limits, no dry run', () => {
    expect(resolveSpec(draft(), 100_000_000n)).toMatchObject({
      cooldownSeconds: 600,
      checkIntervalSeconds: 300,
      dryRun: false,
      limits: { maxAmountPerDay: null, maxAmountPerMonth: null, maxCountPerDay: null, maxCountPerMonth: null },
    });
    const schedule = draft({
      trigger: { type: 'schedule', cron: '0 9 1 * *', timezone: 'UTC' },
      topUp: { type: 'fixed', amount: 1n },
    });
    expect(resolveSpec(schedule, 100n).checkIntervalSeconds).toBeNull();
  });

  it('names every field that cannot work', () => {
    expect(
      fieldsOf(() => resolveSpec(draft({ topUp: { type: 'fixed', amount: 101n }, cooldownSeconds: 59 }), 100n)),
    ).toEqual(['topUp.amount', 'cooldownSeconds']);
    expect(
      fieldsOf(() =>
        resolveSpec(
          draft({ trigger: { type: 'schedule', cron: '0 9 * *', timezone: 'UTC' }, checkIntervalSeconds: 60 }),
          10n ** 9n,
        ),
      ),
    ).toEqual(['trigger.cron', 'topUp.type', 'checkIntervalSeconds']);
    expect(fieldsOf(() => resolveSpec(draft({ topUp: { type: 'target', amount: 50_000n } }), 10n ** 9n))).toEqual([
      'topUp.amount',
    ]);
  });
});

describe('Rule', () => {
  const rule = () => Rule.create('rul_1', 'cli_1', resolveSpec(draft(), 10n ** 9n), now);

  it('is due at once when created', () => {
    expect(rule()).toMatchObject({ status: 'active', dueAt: now, consecutiveFailures: 0, topUpSeq: 0 });
  });

  it('disables itself after the configured failures in a row; a success resets the run', () => {
    const r = rule();
    expect(r.countOutcome('failed', 3, now)).toBe(false);
    r.countOutcome('succeeded', 3, now);
    expect(r.consecutiveFailures).toBe(0);
    r.countOutcome('failed', 3, now);
    r.countOutcome('neutral', 3, now);
    r.countOutcome('failed', 3, now);
    expect(r.countOutcome('failed', 3, now)).toBe(true);
    expect(r).toMatchObject({ status: 'disabled', dueAt: null, disabledReason: '3 top-ups in a row did not succeed' });
  });

  it('pausing stops it; re-activating a disabled rule resets its failures and makes it due at once', () => {
    const r = rule();
    r.change(r.spec, 'paused', now);
    expect(r).toMatchObject({ status: 'paused', dueAt: null });
    for (let i = 0; i < 3; i++) r.countOutcome('failed', 3, now);
    expect(r.status).toBe('paused'); // a paused rule is not disabled by late failures
    Object.assign(r, { status: 'disabled', disabledReason: 'x' });
    const later = new Date(now.getTime() + 60_000);
    r.change(r.spec, 'active', later);
    expect(r).toMatchObject({ status: 'active', consecutiveFailures: 0, disabledReason: null, dueAt: later });
  });

  it('a new schedule forgets the slot computed for the old one', () => {
    const spec = resolveSpec(
      draft({
        trigger: { type: 'schedule', cron: '0 9 * * *', timezone: 'UTC' },
        topUp: { type: 'fixed', amount: 1n },
      }),
      10n,
    );
    const r = Rule.create('rul_2', 'cli_1', spec, now);
    expect(r.currentSlot(now)).toEqual(new Date('2026-12-04T09:00:00Z'));
    r.change({ ...spec, trigger: { type: 'schedule', cron: '0 12 * * *', timezone: 'UTC' } }, undefined, now);
    expect(r.currentSlot(now)).toEqual(new Date('2026-12-03T12:00:00Z'));
  });

  it('a deleted rule cannot be changed', () => {
    const r = rule();
    r.delete(now);
    expect(() => r.change(r.spec, 'active', now)).toThrow(DomainError);
  });
});

describe('schedule', () => {
  it('accepts 5-field cron in an IANA zone only', () => {
    expect(scheduleProblem('0 9 1 * *', 'Asia/Shanghai')).toBeNull();
    expect(scheduleProblem('0 0 9 1 * *', 'UTC')).toMatch(/exactly 5 fields/);
    expect(scheduleProblem('0 9 1 * *', 'Asia/Nowhere')).toMatch(/IANA/);
    expect(scheduleProblem('0 25 * * *', 'UTC')).toMatch(/not valid/);
  });

  it('counts days and months in the zone', () => {
    expect(localDay(new Date('2026-11-30T16:30:00Z'), 'Asia/Shanghai')).toBe('2026-12-01');
    expect(localDay(new Date('2026-11-30T16:30:00Z'), 'UTC')).toBe('2026-11-30');
    expect(nextRunAfter('0 9 1 * *', 'Asia/Shanghai', new Date('2026-12-03T00:00:00Z'))).toEqual(
      new Date('2027-01-01T01:00:00Z'),
    );
  });
});
