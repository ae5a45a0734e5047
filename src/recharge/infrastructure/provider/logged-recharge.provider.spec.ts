import { FixedClock } from '../../../../test/support/fakes/fixed-clock';
import { InMemoryProviderCallLog } from '../../../../test/support/fakes/in-memory-provider-call.log';
import { outcomes, ScriptedRechargeProvider } from '../../../../test/support/fakes/scripted-recharge.provider';
import { Money } from '../../domain/money';
import { ProviderQueryError } from '../../application/ports/recharge-provider';
import { LoggedRechargeProvider } from './logged-recharge.provider';

const parameters = {
  ownerId: '1234567890123456',
  amount: '49.99',
  currency: 'CNY' as const,
  businessType: 'quota_amount_adjust',
  source: 'alicloud-recharge',
};

describe('LoggedRechargeProvider: a provider_calls row for every call', () => {
  const clock = new FixedClock();
  let inner: ScriptedRechargeProvider;
  let log: InMemoryProviderCallLog;
  let provider: LoggedRechargeProvider;

  beforeEach(() => {
    inner = new ScriptedRechargeProvider();
    log = new InMemoryProviderCallLog();
    provider = new LoggedRechargeProvider(inner, log, clock);
  });

  it.each([
    ['succeeded', outcomes.succeeded('REQ-1'), null, 200, 'REQ-1'],
    ['rejected', outcomes.rejected('NotAuthorized'), 'NotAuthorized', 400, 'REQ-REJ'],
    ['conflict', outcomes.conflict('-303'), '-303', 400, 'REQ-CONFLICT'],
    ['unknown', outcomes.unknown(), null, null, null],
  ] as const)(
    'a credit answered %s is logged with its code, status and RequestId',
    async (kind, outcome, code, status, requestId) => {
      inner.answer(outcome);
      await expect(provider.submitCredit({ rechargeId: 'rch_1', attempt: 2, parameters })).resolves.toEqual(outcome);
      expect(log.calls).toEqual([
        {
          rechargeId: 'rch_1',
          accountId: parameters.ownerId,
          action: 'ChangeResellerConsumeAmount',
          attempt: 2,
          at: clock.now(),
          outcome: kind,
          providerCode: code,
          httpStatus: status,
          durationMs: expect.any(Number),
          requestId,
        },
      ]);
    },
  );

  it('a credit call that throws is logged as error and the error still surfaces', async () => {
    inner.answer(async () => {
      throw new Error('adapter bug');
    });
    await expect(provider.submitCredit({ rechargeId: 'rch_2', attempt: 1, parameters })).rejects.toThrow('adapter bug');
    expect(log.calls).toMatchObject([{ rechargeId: 'rch_2', outcome: 'error' }]);
  });

  it('quota queries are logged too, answered or refused', async () => {
    inner.quota = Money.of(100, 'CNY');
    await provider.availableQuota('42', 'CNY');
    jest
      .spyOn(inner, 'availableQuota')
      .mockRejectedValueOnce(
        new ProviderQueryError('-304: Record is not exists.', '-304', { requestId: 'Q', httpStatus: 400 }),
      );
    await expect(provider.availableQuota('43', 'CNY')).rejects.toBeInstanceOf(ProviderQueryError);
    expect(log.calls).toMatchObject([
      { rechargeId: null, accountId: '42', action: 'QueryResellerAvailableQuota', attempt: null, outcome: 'succeeded' },
      {
        rechargeId: null,
        accountId: '43',
        action: 'QueryResellerAvailableQuota',
        outcome: 'error',
        providerCode: '-304',
        httpStatus: 400,
        requestId: 'Q',
      },
    ]);
  });

  it('a log that cannot be written never hides the answer', async () => {
    jest.spyOn(log, 'record').mockRejectedValue(new Error('database down'));
    inner.answer(outcomes.succeeded());
    await expect(provider.submitCredit({ rechargeId: 'rch_3', attempt: 1, parameters })).resolves.toMatchObject({
      kind: 'succeeded',
    });
  });
});
