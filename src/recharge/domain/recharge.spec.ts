import { aRecharge } from '../../../test/support/fakes/recharge-builder';
import { Recharge } from './recharge';
import { InvalidTransitionError } from './recharge.errors';
import { ALL_STATES, ALLOWED_TRANSITIONS, RechargeState as S } from './recharge-state';
import { journalForSucceededRecharge, signedAmount } from './ledger';
import { requestFingerprint } from './request-fingerprint';

const now = new Date('2026-11-25T12:00:00Z');

const newRecharge = (): Recharge => aRecharge(now, { id: 'rch_0' });

/** A recharge driven into `state` through allowed transitions only. */
function inState(state: S, failure: 'TIMEOUT' | 'PROVIDER_REJECTED' = 'TIMEOUT'): Recharge {
  const r = newRecharge();
  const path: Record<S, (r: Recharge) => void> = {
    [S.CREATED]: () => undefined,
    [S.SUBMITTED]: (x) => x.submit('dispatcher', now),
    [S.PENDING_CONFIRMATION]: (x) => (x.submit('dispatcher', now), x.awaitConfirmation('timeout', 'dispatcher', now)),
    [S.SUCCEEDED]: (x) => (x.submit('dispatcher', now), x.succeed('tx1', 'ok', 'dispatcher', now)),
    [S.FAILED]: (x) => {
      x.submit('dispatcher', now);
      if (failure === 'TIMEOUT') x.expire('reconciliation', now);
      else x.reject('NotAuthorized', 'no', 'dispatcher', now);
    },
    [S.CANCELED]: (x) => x.cancel('caller canceled', 'api', now),
  };
  path[state](r);
  r.pullTransitions();
  return r;
}

/** Drives a transition to `to` through the aggregate's intention-revealing method for it. */
function attempt(r: Recharge, to: S): void {
  const actions: Record<S, () => void> = {
    [S.CREATED]: () => {
      throw new InvalidTransitionError(r.id, r.state, S.CREATED); // nothing returns to CREATED
    },
    [S.SUBMITTED]: () => r.submit('dispatcher', now),
    [S.PENDING_CONFIRMATION]: () => r.awaitConfirmation('timeout', 'dispatcher', now),
    [S.SUCCEEDED]: () => r.succeed('tx', 'ok', 'webhook', now),
    [S.FAILED]: () => r.reject('ParameterError', 'bad', 'dispatcher', now),
    [S.CANCELED]: () => r.cancel('canceled', 'operator', now),
  };
  actions[to]();
}

const pairs = ALL_STATES.flatMap((from) => ALL_STATES.map((to) => [from, to] as const));
const allowed = pairs.filter(([from, to]) => ALLOWED_TRANSITIONS[from].includes(to));
const refused = pairs.filter(([from, to]) => !ALLOWED_TRANSITIONS[from].includes(to));

describe('Recharge state machine', () => {
  it('knows exactly the transitions of docs/states.md', () => {
    expect(allowed.map(([a, b]) => `${a}->${b}`).sort()).toEqual(
      [
        'CREATED->SUBMITTED',
        'CREATED->CANCELED',
        'SUBMITTED->SUCCEEDED',
        'SUBMITTED->FAILED',
        'SUBMITTED->PENDING_CONFIRMATION',
        'SUBMITTED->CANCELED',
        'PENDING_CONFIRMATION->SUCCEEDED',
        'PENDING_CONFIRMATION->FAILED',
        'PENDING_CONFIRMATION->CANCELED',
        'FAILED->SUCCEEDED',
      ].sort(),
    );
  });

  it.each(allowed)('allows %s → %s and records it', (from, to) => {
    const r = inState(from);
    attempt(r, to);
    expect(r.state).toBe(to);
    const [t, ...rest] = r.pullTransitions();
    expect(rest).toHaveLength(0);
    expect(t).toMatchObject({ rechargeId: 'rch_0', from, to, at: now });
    expect(t.reason).toEqual(expect.any(String));
  });

  it.each(refused)('refuses %s → %s and changes nothing', (from, to) => {
    const r = inState(from);
    const before = { ...r };
    expect(() => attempt(r, to)).toThrow(InvalidTransitionError);
    expect(r.state).toBe(from);
    expect(r.pullTransitions()).toHaveLength(0);
    expect({ ...r }).toEqual(before);
  });

  it('records the creation as from null to CREATED by the api', () => {
    const r = newRecharge();
    expect(r.pullTransitions()).toEqual([
      {
        rechargeId: 'rch_0',
        from: null,
        to: S.CREATED,
        reason: 'recharge requested',
        source: 'api',
        at: now,
        correction: false,
      },
    ]);
  });

  it('corrects FAILED(TIMEOUT) → SUCCEEDED as a reconciliation correction', () => {
    const r = inState(S.FAILED, 'TIMEOUT');
    expect(r.failure()?.code).toBe('TIMEOUT');
    const t = r.succeed('tx9', 'provider proved success', 'reconciliation', now);
    expect(t.correction).toBe(true);
    expect(r.failure()).toBeNull();
    expect(r.providerReference).toBe('tx9');
  });

  it('never turns a definitive provider rejection into success', () => {
    const r = inState(S.FAILED, 'PROVIDER_REJECTED');
    expect(() => r.succeed('tx', 'late', 'webhook', now)).toThrow(InvalidTransitionError);
    expect(r.state).toBe(S.FAILED);
    expect(r.failure()).toEqual({ code: 'PROVIDER_REJECTED', message: 'no', providerCode: 'NotAuthorized' });
  });

  it('a late failure never undoes a success', () => {
    const r = inState(S.SUCCEEDED);
    expect(() => r.reject('X', 'late', 'webhook', now)).toThrow(InvalidTransitionError);
    expect(r.state).toBe(S.SUCCEEDED);
  });

  it('sets completedAt and clears the schedule on final states', () => {
    const r = inState(S.SUBMITTED);
    expect(r.completedAt).toBeNull();
    r.succeed('tx', 'ok', 'dispatcher', now);
    expect(r.completedAt).toEqual(now);
    expect(r.nextAttemptAt).toBeNull();
  });
});

describe('ledger journal', () => {
  it('debits provider clearing and credits the customer, summing to zero', () => {
    const r = inState(S.SUCCEEDED);
    const journal = journalForSucceededRecharge(r, now);
    expect(journal.map((e) => [e.ledgerAccount, e.direction, e.amountMinor])).toEqual([
      ['provider_clearing', 'debit', 4999n],
      ['customer:1234567890123456', 'credit', 4999n],
    ]);
    expect(journal.reduce((s, e) => s + signedAmount(e), 0n)).toBe(0n);
  });

  it.each(ALL_STATES.filter((s) => s !== S.SUCCEEDED))('refuses to credit a %s recharge', (state) => {
    expect(() => journalForSucceededRecharge(inState(state), now)).toThrow();
  });
});

describe('request fingerprint', () => {
  const base = {
    accountId: '1',
    amount: 100,
    currency: 'CNY',
    orderReference: null,
    metadata: { a: '1', b: '2' },
    callbackUrl: null,
  };
  it('ignores metadata key order', () => {
    expect(requestFingerprint(base)).toBe(requestFingerprint({ ...base, metadata: { b: '2', a: '1' } }));
  });
  it.each([
    ['accountId', { accountId: '2' }],
    ['amount', { amount: 101 }],
    ['currency', { currency: 'USD' }],
    ['orderReference', { orderReference: 'x' }],
    ['metadata', { metadata: { a: '1' } }],
    ['callbackUrl', { callbackUrl: 'https://x' }],
  ])('changes with %s', (_, change) => {
    expect(requestFingerprint({ ...base, ...change })).not.toBe(requestFingerprint(base));
  });
});

describe('provider reports', () => {
  const ok = { status: 'SUCCEEDED' as const, providerReference: 'tx7', failureCode: null };
  const failed = { status: 'FAILED' as const, providerReference: null, failureCode: 'NotAuthorized' };
  const canceled = { status: 'CANCELED' as const, providerReference: null, failureCode: null };

  it.each([
    [S.SUBMITTED, ok, 'applied', S.SUCCEEDED],
    [S.PENDING_CONFIRMATION, ok, 'applied', S.SUCCEEDED],
    [S.SUCCEEDED, ok, 'duplicate', S.SUCCEEDED],
    [S.CREATED, ok, 'ignored', S.CREATED],
    [S.CANCELED, ok, 'discrepancy', S.CANCELED],
    [S.SUBMITTED, failed, 'applied', S.FAILED],
    [S.SUCCEEDED, failed, 'ignored', S.SUCCEEDED],
    [S.FAILED, failed, 'duplicate', S.FAILED],
    [S.PENDING_CONFIRMATION, canceled, 'applied', S.CANCELED],
    [S.SUCCEEDED, canceled, 'ignored', S.SUCCEEDED],
  ] as const)('%s + %j → %s (%s)', (state, report, result, after) => {
    const r = inState(state);
    expect(r.applyProviderReport(report, 'webhook', now)).toBe(result);
    expect(r.state).toBe(after);
  });

  it('corrects our own TIMEOUT on a success report, never a definitive rejection', () => {
    const timedOut = inState(S.FAILED, 'TIMEOUT');
    expect(timedOut.applyProviderReport(ok, 'webhook', now)).toBe('applied');
    expect(timedOut.pullTransitions()[0].correction).toBe(true);
    const rejected = inState(S.FAILED, 'PROVIDER_REJECTED');
    expect(rejected.applyProviderReport(ok, 'webhook', now)).toBe('discrepancy');
    expect(rejected.state).toBe(S.FAILED);
  });

  it.each([
    [S.CANCELED, 'PROVIDER_REJECTED', 'success_after_cancel'],
    [S.FAILED, 'PROVIDER_REJECTED', 'success_after_failure'],
  ] as const)(
    'item 2 (domain): a success for a %s recharge changes nothing but is kept as %s',
    (state, failure, kind) => {
      const r = inState(state, failure);
      expect(r.providerSucceeded('tx9', 'ok', 'dispatcher', now, { requestId: 'R9' })).toBe('discrepancy');
      expect(r.state).toBe(state);
      expect(r.pullTransitions()).toEqual([]);
      expect(r.pullDiscrepancies()).toEqual([
        expect.objectContaining({
          rechargeId: r.id,
          kind,
          evidence: expect.objectContaining({ requestId: 'R9', providerReference: 'tx9', state }),
          seenAt: now,
          acknowledgedAt: null,
        }),
      ]);
      expect(r.pullDiscrepancies()).toEqual([]);
    },
  );
});

describe('sends', () => {
  const defaults = { businessType: 'quota_amount_adjust', source: 'alicloud-recharge' };

  it('fixes the parameters at the first send and repeats them, whatever the defaults say later', () => {
    const r = inState(S.SUBMITTED);
    const first = r.startSend(defaults, now);
    expect(first).toEqual({
      ownerId: '1234567890123456',
      amount: '49.99',
      currency: 'CNY',
      businessType: 'quota_amount_adjust',
      source: 'alicloud-recharge',
    });
    r.sendAnswered(true);
    expect(r.startSend({ businessType: 'other', source: 'other' }, now)).toEqual(first);
    expect(r.sends).toBe(2);
  });

  it('a send that was never answered counts as one that may have reached the provider', () => {
    const r = inState(S.SUBMITTED);
    r.startSend(defaults, now);
    expect(r.mayHaveReachedProvider).toBe(false);
    r.startSend(defaults, now);
    expect(r.mayHaveReachedProvider).toBe(true);
  });

  it('an answer proving nothing was applied leaves the flag as it was', () => {
    const r = inState(S.SUBMITTED);
    r.startSend(defaults, now);
    r.sendAnswered(false);
    expect(r).toMatchObject({ mayHaveReachedProvider: false, sendStartedAt: null });
  });

  it('a lease is live until it ends and is released only by its owner', () => {
    const r = inState(S.SUBMITTED);
    Object.assign(r, { leaseOwner: 'lse_a', leaseUntil: new Date(now.getTime() + 1000) });
    expect(r.leaseLive(now)).toBe(true);
    expect(r.leaseLive(new Date(now.getTime() + 1000))).toBe(false);
    r.releaseLease('lse_b');
    expect(r.leaseOwner).toBe('lse_a');
    r.releaseLease('lse_a');
    expect(r).toMatchObject({ leaseOwner: null, leaseUntil: null });
  });

  it('compares provider records by value in minor units', () => {
    const r = inState(S.SUBMITTED);
    expect(r.mismatchesWith({ ownerId: '1234567890123456', amount: '49.990', currency: 'CNY' })).toEqual([]);
    expect(r.mismatchesWith({ ownerId: '1234567890123456', amount: '49.98', currency: 'CNY' })).toEqual(['Amount']);
    expect(r.mismatchesWith({ ownerId: '1', amount: '49.99', currency: 'USD' })).toEqual(['OwnerId', 'Currency']);
    expect(r.mismatchesWith({ ownerId: '1234567890123456', amount: 'abc', currency: 'CNY' })).toEqual(['Amount']);
  });
});
