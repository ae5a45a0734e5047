import { FixedClock } from '../../../test/support/fakes/fixed-clock';
import { InMemoryRechargeRepository } from '../../../test/support/fakes/in-memory-recharge.repository';
import { aRecharge } from '../../../test/support/fakes/recharge-builder';
import { outcomes, ScriptedRechargeProvider } from '../../../test/support/fakes/scripted-recharge.provider';
import { Recharge } from '../domain/recharge';
import { RechargeState } from '../domain/recharge-state';
import { DispatchRechargeUseCase, DispatchSettings } from './dispatch-recharge.use-case';
import { ProviderOutcome } from './ports/recharge-provider';

const SETTINGS: DispatchSettings = {
  leaseMs: 60_000,
  reconcileAfterMs: 60_000,
  confirmationWindowMs: 30 * 60_000,
  maxQuickRetries: 6,
  retryBaseMs: 250,
  retryMaxMs: 15_000,
  creditDefaults: { businessType: 'quota_amount_adjust', source: 'alicloud-recharge' },
};

type OutcomeName = keyof typeof outcomes;
/** What happened to the recharge while the call was out (a notification, the window's end). */
type Meanwhile = 'nothing' | 'CANCELED' | 'FAILED(PROVIDER_REJECTED)' | 'FAILED(TIMEOUT)';

interface Expected {
  state: RechargeState;
  failure?: string | null;
  discrepancy?: string;
  correction?: boolean;
}

describe('DispatchRechargeUseCase (unit, in-memory fakes)', () => {
  let clock: FixedClock;
  let repo: InMemoryRechargeRepository;
  let provider: ScriptedRechargeProvider;
  let settings: { -readonly [K in keyof DispatchSettings]: DispatchSettings[K] };
  let dispatch: DispatchRechargeUseCase;

  beforeEach(() => {
    clock = new FixedClock();
    repo = new InMemoryRechargeRepository();
    provider = new ScriptedRechargeProvider();
    settings = { ...SETTINGS, creditDefaults: { ...SETTINGS.creditDefaults } };
    dispatch = new DispatchRechargeUseCase(repo, provider, settings, clock);
  });

  const newRecharge = (): Recharge => repo.put(aRecharge(clock.now()));

  /** Claims whatever is due and processes it, as the dispatcher loop does. */
  async function runDue(): Promise<number> {
    const claims = await dispatch.claimDue(10);
    for (const claim of claims) await dispatch.process(claim);
    return claims.length;
  }

  /** First send answered `unknown`, then the re-send is due: the recharge is PENDING_CONFIRMATION. */
  async function afterUnknownFirstSend(): Promise<Recharge> {
    const r = newRecharge();
    provider.answer(outcomes.unknown());
    expect(await runDue()).toBe(1);
    expect(repo.get(r.id)).toMatchObject({ state: RechargeState.PENDING_CONFIRMATION, mayHaveReachedProvider: true });
    clock.advance(SETTINGS.reconcileAfterMs);
    return r;
  }

  /** Makes `meanwhile` happen while the provider call is out, then answers `outcome`. */
  function answerAfter(meanwhile: Meanwhile, outcome: ProviderOutcome) {
    return async (request: { rechargeId: string }): Promise<ProviderOutcome> => {
      await repo.mutate(request.rechargeId, (r) => {
        const now = clock.now();
        if (meanwhile === 'CANCELED') r.cancel('provider reported the recharge canceled (webhook)', 'webhook', now);
        if (meanwhile === 'FAILED(PROVIDER_REJECTED)')
          r.reject('NotApplicable', 'provider reported failure', 'webhook', now);
        if (meanwhile === 'FAILED(TIMEOUT)') r.expire('reconciliation', now);
      });
      return outcome;
    };
  }

  const open = (send: 'first' | 're-send') =>
    send === 'first' ? RechargeState.SUBMITTED : RechargeState.PENDING_CONFIRMATION;

  /** The matrix: first send vs re-send × answer × what happened to the recharge during the call. */
  const matrix: Array<[send: 'first' | 're-send', answer: OutcomeName, meanwhile: Meanwhile, expected: Expected]> = [];
  for (const send of ['first', 're-send'] as const) {
    matrix.push(
      [send, 'succeeded', 'nothing', { state: RechargeState.SUCCEEDED, failure: null }],
      [
        send,
        'rejected',
        'nothing',
        send === 'first'
          ? { state: RechargeState.FAILED, failure: 'PROVIDER_REJECTED' }
          : { state: RechargeState.PENDING_CONFIRMATION, failure: null },
      ],
      [send, 'retryable', 'nothing', { state: open(send), failure: null }],
      [send, 'unknown', 'nothing', { state: RechargeState.PENDING_CONFIRMATION, failure: null }],
      [
        send,
        'conflict',
        'nothing',
        { state: RechargeState.PENDING_CONFIRMATION, failure: null, discrepancy: 'out_biz_id_conflict' },
      ],
    );
    for (const answer of ['succeeded', 'rejected', 'retryable', 'unknown', 'conflict'] as const) {
      const conflict = answer === 'conflict' ? { discrepancy: 'out_biz_id_conflict' } : {};
      matrix.push(
        [
          send,
          answer,
          'CANCELED',
          answer === 'succeeded'
            ? { state: RechargeState.CANCELED, failure: 'CANCELED', discrepancy: 'success_after_cancel' }
            : { state: RechargeState.CANCELED, failure: 'CANCELED', ...conflict },
        ],
        [
          send,
          answer,
          'FAILED(PROVIDER_REJECTED)',
          answer === 'succeeded'
            ? { state: RechargeState.FAILED, failure: 'PROVIDER_REJECTED', discrepancy: 'success_after_failure' }
            : { state: RechargeState.FAILED, failure: 'PROVIDER_REJECTED', ...conflict },
        ],
        [
          send,
          answer,
          'FAILED(TIMEOUT)',
          answer === 'succeeded'
            ? { state: RechargeState.SUCCEEDED, failure: null, correction: true }
            : { state: RechargeState.FAILED, failure: 'TIMEOUT', ...conflict },
        ],
      );
    }
  }

  it.each(matrix)('%s send answered %s, meanwhile %s → %j', async (send, answer, meanwhile, expected) => {
    const r = send === 'first' ? newRecharge() : await afterUnknownFirstSend();
    const eventsBefore = (await repo.transitions(r.id)).length;
    provider.answer(answerAfter(meanwhile, outcomes[answer]()));

    expect(await runDue()).toBe(1);

    const after = repo.get(r.id);
    expect({ state: after.state, failure: after.failureCode }).toEqual({
      state: expected.state,
      failure: expected.failure ?? null,
    });
    expect(repo.discrepancies.map((d) => d.kind)).toEqual(expected.discrepancy ? [expected.discrepancy] : []);
    for (const d of repo.discrepancies) expect(d.rechargeId).toBe(r.id);
    const events = (await repo.transitions(r.id)).slice(eventsBefore);
    expect(events.some((e) => e.correction)).toBe(expected.correction ?? false);
    // The claim is over: nobody holds the recharge any more.
    expect(after.leaseOwner).toBeNull();
    expect(after.sendStartedAt).toBeNull();
    // Never a definitive failure from a re-send's answer.
    if (send === 're-send' && meanwhile === 'nothing') {
      expect(events.filter((e) => e.to === RechargeState.FAILED)).toEqual([]);
    }
  });

  describe('item 1: after a send may have reached the provider, no answer is a definitive rejection', () => {
    it.each([
      'NotAuthorized',
      'InvalidAccessKeyId.NotFound',
      'InvalidTimeStamp.Expired',
      'SignatureDoesNotMatch',
      'ParameterError',
      'NotApplicable',
    ])(
      'item 1: re-send rejected with %s after an unknown first send → PENDING_CONFIRMATION, then FAILED/TIMEOUT past the window (correctable)',
      async (code) => {
        const r = await afterUnknownFirstSend();
        provider.answer(outcomes.rejected(code));
        await runDue();
        expect(repo.get(r.id)).toMatchObject({ state: RechargeState.PENDING_CONFIRMATION, failureCode: null });

        clock.advance(SETTINGS.confirmationWindowMs);
        await runDue();
        expect(repo.get(r.id)).toMatchObject({ state: RechargeState.FAILED, failureCode: 'TIMEOUT' });
        // Still correctable: a later proof of success turns it into SUCCEEDED.
        await repo.mutate(r.id, (x) => x.providerSucceeded('late', 'late proof', 'webhook', clock.now()));
        expect(repo.get(r.id).state).toBe(RechargeState.SUCCEEDED);
      },
    );

    it('item 1: a send that never reported back (the replica died mid-call) counts as one that may have landed', async () => {
      const r = newRecharge();
      provider.answer(
        () => new Promise<ProviderOutcome>(() => undefined), // the call never ends: the replica is gone
      );
      const [claim] = await dispatch.claimDue(1);
      void dispatch.process(claim);
      await new Promise((resolve) => setImmediate(resolve));
      expect(repo.get(r.id)).toMatchObject({ state: RechargeState.SUBMITTED, sendStartedAt: expect.any(Date) });

      // Its lease lapses; another replica re-sends and is rejected.
      clock.advance(SETTINGS.leaseMs + 1);
      const other = new DispatchRechargeUseCase(repo, provider, settings, clock);
      provider.answer(outcomes.rejected('NotAuthorized'));
      const [again] = await other.claimDue(1);
      await other.process(again);
      expect(repo.get(r.id)).toMatchObject({ state: RechargeState.PENDING_CONFIRMATION, mayHaveReachedProvider: true });
    });

    it('item 1: a retryable answer that may have been applied (5xx after sending) also makes a later rejection unknown', async () => {
      const r = newRecharge();
      provider.answer(outcomes.retryable(), outcomes.rejected('NotAuthorized'));
      await runDue();
      expect(repo.get(r.id)).toMatchObject({ state: RechargeState.SUBMITTED, mayHaveReachedProvider: true });
      clock.advance(SETTINGS.retryMaxMs);
      await runDue();
      expect(repo.get(r.id).state).toBe(RechargeState.PENDING_CONFIRMATION);
    });

    it('a throttled first send proves nothing landed: a rejection of the next send is definitive', async () => {
      const r = newRecharge();
      provider.answer(outcomes.retryable({ providerCode: 'Throttling.User', notApplied: true }), outcomes.rejected());
      await runDue();
      expect(repo.get(r.id)).toMatchObject({ state: RechargeState.SUBMITTED, mayHaveReachedProvider: false });
      clock.advance(SETTINGS.retryMaxMs);
      await runDue();
      expect(repo.get(r.id)).toMatchObject({ state: RechargeState.FAILED, failureCode: 'PROVIDER_REJECTED' });
    });

    it.each(['IdempotentParameterMismatch', '-303'])(
      'item 1: %s on the FIRST send is unknown plus an out_biz_id_conflict discrepancy, never a failure',
      async (code) => {
        const r = newRecharge();
        provider.answer(outcomes.conflict(code));
        await runDue();
        expect(repo.get(r.id)).toMatchObject({ state: RechargeState.PENDING_CONFIRMATION, failureCode: null });
        expect(repo.discrepancies).toEqual([
          expect.objectContaining({
            rechargeId: r.id,
            kind: 'out_biz_id_conflict',
            evidence: expect.objectContaining({ providerCode: code, requestId: 'REQ-CONFLICT', attempt: 1 }),
          }),
        ]);
      },
    );

    it('a conflict answered to every re-send is kept as one open discrepancy', async () => {
      const r = newRecharge();
      provider.answer(outcomes.conflict(), outcomes.conflict(), outcomes.conflict());
      for (let i = 0; i < 3; i++) {
        await runDue();
        clock.advance(SETTINGS.reconcileAfterMs);
      }
      expect(provider.requests).toHaveLength(3);
      expect(repo.discrepancies.filter((d) => d.rechargeId === r.id)).toHaveLength(1);
    });
  });

  describe("the first send's parameters are stored and every re-send uses exactly them", () => {
    it('item 1: a re-send after BusinessType/Source changed in the configuration carries the first send’s values', async () => {
      const r = newRecharge();
      provider.answer(outcomes.unknown(), outcomes.succeeded());
      await runDue();
      const first = provider.requests[0].parameters;
      expect(first).toEqual({
        ownerId: '1234567890123456',
        amount: '49.99',
        currency: 'CNY',
        businessType: 'quota_amount_adjust',
        source: 'alicloud-recharge',
      });
      expect(repo.get(r.id).creditParameters).toEqual(first);

      // The operator changes ALIBABA_CLOUD_SOURCE and BUSINESS_TYPE and restarts.
      settings.creditDefaults.businessType = 'something_else';
      settings.creditDefaults.source = 'renamed-system';
      clock.advance(SETTINGS.reconcileAfterMs);
      await runDue();

      expect(provider.requests.map((q) => [q.attempt, q.parameters])).toEqual([
        [1, first],
        [2, first],
      ]);
      expect(repo.get(r.id).state).toBe(RechargeState.SUCCEEDED);
    });
  });

  describe('item 2: a provider success is never dropped', () => {
    it('item 2: success answered for a recharge CANCELED during the call → stays CANCELED, discrepancy success_after_cancel with the evidence', async () => {
      const r = newRecharge();
      provider.answer(answerAfter('CANCELED', outcomes.succeeded('REQ-77')));
      await runDue();
      expect(repo.get(r.id).state).toBe(RechargeState.CANCELED);
      expect(repo.discrepancies).toEqual([
        expect.objectContaining({
          id: expect.stringMatching(/^dsc_/),
          rechargeId: r.id,
          kind: 'success_after_cancel',
          evidence: expect.objectContaining({ providerReference: 'REQ-77', requestId: 'REQ-77', state: 'CANCELED' }),
          acknowledgedAt: null,
        }),
      ]);
    });

    it('item 2: success answered for a recharge FAILED (not TIMEOUT) during the call → stays FAILED, discrepancy success_after_failure', async () => {
      const r = newRecharge();
      provider.answer(answerAfter('FAILED(PROVIDER_REJECTED)', outcomes.succeeded()));
      await runDue();
      expect(repo.get(r.id)).toMatchObject({ state: RechargeState.FAILED, failureCode: 'PROVIDER_REJECTED' });
      expect(repo.discrepancies.map((d) => d.kind)).toEqual(['success_after_failure']);
    });
  });

  describe('item 9: Retry-After is capped at the retry ceiling', () => {
    it('item 9: an x-acs-retry-after of 11.6 days schedules the retry at most retryMaxMs later', async () => {
      const r = newRecharge();
      provider.answer(
        outcomes.retryable({ retryAfterMs: 999_999_999, providerCode: 'Throttling.User', notApplied: true }),
      );
      const sentAt = clock.now();
      await runDue();
      const after = repo.get(r.id);
      expect(after.state).toBe(RechargeState.SUBMITTED);
      expect(after.nextAttemptAt!.getTime() - sentAt.getTime()).toBe(SETTINGS.retryMaxMs);
    });

    it('item 9: a hint below the ceiling is honoured as given', async () => {
      const r = newRecharge();
      provider.answer(outcomes.retryable({ retryAfterMs: 1_500 }));
      const sentAt = clock.now();
      await runDue();
      expect(repo.get(r.id).nextAttemptAt!.getTime() - sentAt.getTime()).toBe(1_500);
    });
  });

  describe('item 3/4: leases', () => {
    it('item 4: while process() waits (for a send permit or the call) its lease is renewed, so no other claim takes the recharge', async () => {
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      try {
        settings.leaseMs = 3_000;
        const r = newRecharge();
        let release!: (o: ProviderOutcome) => void;
        provider.answer(() => new Promise<ProviderOutcome>((resolve) => (release = resolve)));
        const [claim] = await dispatch.claimDue(1);
        const work = dispatch.process(claim);
        // Ten lease lengths pass while the call waits; another replica polls all along.
        const other = new DispatchRechargeUseCase(repo, provider, settings, clock);
        for (let i = 0; i < 30; i++) {
          clock.advance(1_000);
          await jest.advanceTimersByTimeAsync(1_000);
          expect(await other.claimDue(5)).toEqual([]);
        }
        release(outcomes.succeeded());
        await work;
        expect(provider.requests).toHaveLength(1);
        expect(repo.get(r.id)).toMatchObject({ state: RechargeState.SUCCEEDED, leaseOwner: null });
      } finally {
        jest.useRealTimers();
      }
    });

    it('item 3: the lease holder claims nothing it does not hold: a taken-over claim neither sends nor expires', async () => {
      const r = newRecharge();
      const [stale] = await dispatch.claimDue(1);
      clock.advance(SETTINGS.leaseMs + 1);
      const [fresh] = await dispatch.claimDue(1);
      expect(fresh.leaseOwner).not.toBe(stale.leaseOwner);
      await dispatch.process(stale);
      expect(provider.requests).toHaveLength(0);
      expect(repo.get(r.id)).toMatchObject({ state: RechargeState.CREATED, leaseOwner: fresh.leaseOwner });
    });
  });
});
