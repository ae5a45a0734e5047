import { DomainError } from '../../../libs/shared/domain-error';
import { aRecharge } from '../../../test/support/fakes/recharge-builder';
import { Recharge } from './recharge';
import { InvalidTransitionError } from './recharge.errors';
import { RechargeState as S } from './recharge-state';

const now = new Date('2026-12-03T12:00:00Z');
const later = new Date('2026-12-03T13:00:00Z');
const alice = { id: 'opr_alice', name: 'alice' };

type Setup = 'CREATED' | 'SUBMITTED' | 'PENDING' | 'SUCCEEDED' | 'TIMEOUT' | 'REJECTED' | 'NOT_APPLIED' | 'CANCELED';

/** A recharge driven through the aggregate's own methods into the situation named. */
function recharge(setup: Setup): Recharge {
  const r = aRecharge(now);
  if (setup === 'CANCELED') r.cancel('caller canceled', 'api', now);
  if (setup !== 'CREATED' && setup !== 'CANCELED') r.submit('dispatcher', now);
  if (setup === 'PENDING' || setup === 'NOT_APPLIED') r.awaitConfirmation('outcome unknown', 'dispatcher', now);
  if (setup === 'SUCCEEDED') r.succeed('tx1', 'ok', 'dispatcher', now);
  if (setup === 'TIMEOUT') r.expire('reconciliation', now);
  if (setup === 'REJECTED') r.reject('NotAuthorized', 'no', 'dispatcher', now);
  if (setup === 'NOT_APPLIED') r.resolveNotApplied(alice, 'checked at the provider console', now);
  r.pullTransitions();
  return r;
}

describe('Recharge: operator resolution (unknown outcomes settled by a person)', () => {
  it('PENDING_CONFIRMATION → SUCCEEDED by an operator: source operator, actor named, not a correction', () => {
    const r = recharge('PENDING');
    r.resolveSucceeded(alice, 'TX-9', 'seen as applied in the BSS console', later);
    expect(r.state).toBe(S.SUCCEEDED);
    expect(r.providerReference).toBe('TX-9');
    expect(r.failure()).toBeNull();
    expect(r.completedAt).toEqual(later);
    const [t] = r.pullTransitions();
    expect(t).toMatchObject({
      from: S.PENDING_CONFIRMATION,
      to: S.SUCCEEDED,
      source: 'operator',
      actor: 'opr_alice',
      correction: false,
    });
    expect(t.reason).toContain('seen as applied in the BSS console');
    expect(t.reason).toContain('alice');
  });

  it('FAILED/TIMEOUT → SUCCEEDED by an operator is a correction (money moved after we gave up)', () => {
    const r = recharge('TIMEOUT');
    r.resolveSucceeded(alice, null, 'the provider statement shows the credit', later);
    expect(r.state).toBe(S.SUCCEEDED);
    expect(r.failure()).toBeNull();
    expect(r.pullTransitions()).toEqual([
      expect.objectContaining({
        from: S.FAILED,
        to: S.SUCCEEDED,
        source: 'operator',
        actor: 'opr_alice',
        correction: true,
      }),
    ]);
  });

  it('PENDING_CONFIRMATION → FAILED/NOT_APPLIED: final, no further attempt scheduled', () => {
    const r = recharge('PENDING');
    r.resolveNotApplied(alice, 'the provider has no such OutBizId', later);
    expect(r.state).toBe(S.FAILED);
    expect(r.failure()?.code).toBe('NOT_APPLIED');
    expect(r.nextAttemptAt).toBeNull();
    expect(r.pullTransitions()).toEqual([
      expect.objectContaining({ from: S.PENDING_CONFIRMATION, to: S.FAILED, source: 'operator', actor: 'opr_alice' }),
    ]);
  });

  it('FAILED/TIMEOUT → FAILED/NOT_APPLIED keeps the state, makes the failure definitive and records the change', () => {
    const r = recharge('TIMEOUT');
    const completedAt = r.completedAt;
    r.resolveNotApplied(alice, 'the provider has no such OutBizId', later);
    expect(r.state).toBe(S.FAILED);
    expect(r.failure()?.code).toBe('NOT_APPLIED');
    expect(r.completedAt).toEqual(completedAt);
    expect(r.updatedAt).toEqual(later);
    expect(r.pullTransitions()).toEqual([
      expect.objectContaining({
        from: S.FAILED,
        to: S.FAILED,
        source: 'operator',
        actor: 'opr_alice',
        correction: false,
      }),
    ]);
  });

  it('after NOT_APPLIED a late provider success is no longer a correction (the failure is definitive)', () => {
    const r = recharge('NOT_APPLIED');
    expect(r.isResolvableByOperator()).toBe(false);
    expect(() => r.succeed('tx', 'late', 'webhook', later)).toThrow(InvalidTransitionError);
  });

  it.each<Setup>(['CREATED', 'SUBMITTED', 'SUCCEEDED', 'REJECTED', 'NOT_APPLIED', 'CANCELED'])(
    'refuses to resolve a %s recharge (409 INVALID_STATE), changing nothing',
    (setup) => {
      for (const resolve of [
        (r: Recharge) => r.resolveSucceeded(alice, null, 'reason long enough', later),
        (r: Recharge) => r.resolveNotApplied(alice, 'reason long enough', later),
      ]) {
        const r = recharge(setup);
        const before = { ...r };
        expect(() => resolve(r)).toThrow(InvalidTransitionError);
        expect({ ...r }).toEqual(before);
        expect(r.pullTransitions()).toEqual([]);
      }
    },
  );

  it('the service’s own transitions carry no actor', () => {
    const r = recharge('SUBMITTED');
    r.awaitConfirmation('unknown', 'dispatcher', later);
    expect(r.pullTransitions()[0].actor).toBeUndefined();
  });

  it.each<Setup>(['SUBMITTED', 'PENDING'])('redrive makes a %s recharge due now without a transition', (setup) => {
    const r = recharge(setup);
    r.redrive(later);
    expect(r.nextAttemptAt).toEqual(later);
    expect(r.pullTransitions()).toEqual([]);
  });

  it.each<Setup>(['CREATED', 'SUCCEEDED', 'TIMEOUT', 'CANCELED'])('redrive refuses a %s recharge', (setup) => {
    const r = recharge(setup);
    const error = (() => {
      try {
        r.redrive(later);
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('INVALID_STATE');
  });
});
