import { DomainError } from '../../../libs/shared/domain-error';
import { FixedClock } from '../../../test/support/fakes/fixed-clock';
import { Money, Currency } from '../../recharge/domain/money';
import { AvailableQuota, RechargeProvider } from '../../recharge/application/ports/recharge-provider';
import { AccountViewUseCase } from './account-view.use-case';
import { AdminReadModel } from './ports/admin-read-model';

/** A provider that answers from a script and counts the quota queries that reach it. */
class CountingProvider extends RechargeProvider {
  calls: Array<{ accountId: string; currency: Currency }> = [];
  answer: () => Promise<AvailableQuota> = async () => ({ accountId: '1', available: Money.of(12345, 'CNY') });
  submitCredit(): never {
    throw new Error('not used');
  }
  availableQuota(accountId: string, currency: Currency): Promise<AvailableQuota> {
    this.calls.push({ accountId, currency });
    return this.answer();
  }
}

const reads = (lastCurrency: string | null) =>
  ({
    balances: async () => [{ currency: 'CNY', amount: '500' }],
    search: async () => ({ data: [], next: null }),
    lastCurrency: async () => lastCurrency,
  }) as unknown as AdminReadModel;

describe('AccountViewUseCase: the live provider quota', () => {
  it('asks the provider once per account per 30 s, then again', async () => {
    const clock = new FixedClock();
    const provider = new CountingProvider();
    const view = new AccountViewUseCase(reads('CNY'), provider, clock);
    const first = await view.view('1');
    expect(first.providerQuota).toEqual({ amount: 12345n, currency: 'CNY', at: clock.now() });
    expect(first.providerQuotaError).toBeNull();
    clock.advance(29_000);
    expect((await view.view('1')).providerQuota).toEqual(first.providerQuota);
    expect(provider.calls).toHaveLength(1);
    clock.advance(1_001);
    await view.view('1');
    expect(provider.calls).toHaveLength(2);
    await view.view('2');
    expect(provider.calls).toHaveLength(3);
  });

  it('asks in the currency the account was last recharged in (the quota has one currency)', async () => {
    const provider = new CountingProvider();
    await new AccountViewUseCase(reads('USD'), provider, new FixedClock()).view('7');
    await new AccountViewUseCase(reads(null), provider, new FixedClock()).view('8');
    expect(provider.calls).toEqual([
      { accountId: '7', currency: 'USD' },
      { accountId: '8', currency: 'CNY' },
    ]);
  });

  it('a provider error is shown as an error, never as a zero quota, and retried after 5 s', async () => {
    const clock = new FixedClock();
    const provider = new CountingProvider();
    provider.answer = async () => {
      throw new DomainError('PROVIDER_ERROR', 'ServiceUnavailable: try later');
    };
    const view = new AccountViewUseCase(reads('CNY'), provider, clock);
    const down = await view.view('1');
    expect(down.providerQuota).toBeNull();
    expect(down.providerQuotaError).toBe('provider quota unavailable: ServiceUnavailable: try later');
    clock.advance(4_000);
    await view.view('1');
    expect(provider.calls).toHaveLength(1);
    clock.advance(1_001);
    provider.answer = async () => ({ accountId: '1', available: Money.of(1, 'CNY') });
    expect((await view.view('1')).providerQuota?.amount).toBe(1n);
  });

  it('an unexpected error says only that the provider did not answer (no internals)', async () => {
    const provider = new CountingProvider();
    provider.answer = async () => {
      throw new Error('socket hang up at 10.0.0.7 with AccessKeySecret=abc');
    };
    const down = await new AccountViewUseCase(reads('CNY'), provider, new FixedClock()).view('1');
    expect(down.providerQuotaError).toBe('provider quota unavailable: the provider did not answer the quota query');
  });
});
