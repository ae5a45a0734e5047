import { FixedClock } from '../../../test/support/fakes/fixed-clock';
import { DomainError } from '../../../libs/shared/domain-error';
import { Client } from '../../clients/domain/client';
import { Currency } from '../domain/money';
import { CreateRechargeCommand, CreateRechargeUseCase } from './create-recharge.use-case';
import { RechargeNotifications } from './ports/recharge-notifications';
import { RechargePolicy } from './recharge-policy';
import { InMemoryRechargeRepository } from '../../../test/support/fakes/in-memory-recharge.repository';

describe('CreateRechargeUseCase: replay before policy (issue 11 item 8)', () => {
  const clock = new FixedClock();
  const notifications = { announceCreated: () => undefined } as unknown as RechargeNotifications;
  const wide: RechargePolicy = {
    maxRechargeAmount: 100_000,
    supportedCurrencies: ['CNY', 'USD'] as Currency[],
    callbackAllowedHosts: ['hooks.example.com'],
  };
  const narrow: RechargePolicy = {
    maxRechargeAmount: 10,
    supportedCurrencies: ['CNY'] as Currency[],
    callbackAllowedHosts: ['other.example.org'],
  };
  const client = Client.register('cli_1', 'billing', ['123'], clock.now()).client;
  const command = (overrides: Partial<CreateRechargeCommand> = {}): CreateRechargeCommand => ({
    client,
    idempotencyKey: 'order-1',
    accountId: '123',
    amount: 5000,
    currency: 'USD',
    orderReference: null,
    metadata: {},
    callbackUrl: 'https://hooks.example.com/cb',
    ...overrides,
  });

  let recharges: InMemoryRechargeRepository;
  let inserts: jest.SpyInstance;
  let lookups: jest.SpyInstance;
  const useCase = (policy: RechargePolicy) => new CreateRechargeUseCase(recharges, policy, clock, notifications);

  beforeEach(() => {
    recharges = new InMemoryRechargeRepository();
    inserts = jest.spyOn(recharges, 'createIfAbsent');
    lookups = jest.spyOn(recharges, 'findByIdempotencyKey');
  });

  it('item 8: a new key that passes the policy costs one repository call (the insert), no lookup', async () => {
    await expect(useCase(wide).execute(command())).resolves.toMatchObject({ outcome: 'created' });
    expect({ inserts: inserts.mock.calls.length, lookups: lookups.mock.calls.length }).toEqual({
      inserts: 1,
      lookups: 0,
    });
  });

  it('item 8: a replay under a narrowed policy (amount, currency, callback host, accounts) is answered as a replay', async () => {
    const { recharge } = await useCase(wide).execute(command());
    const narrowedClient = Object.assign(new Client(), client, { allowedAccounts: ['456'] });
    const replay = await useCase(narrow).execute(command({ client: narrowedClient }));
    expect(replay.outcome).toBe('replayed');
    expect(replay.recharge.id).toBe(recharge.id);
  });

  it('item 8: another request under the key is 422 even when the policy would refuse it too', async () => {
    await useCase(wide).execute(command());
    await expect(useCase(narrow).execute(command({ amount: 5001 }))).rejects.toMatchObject({
      code: 'DUPLICATE_REQUEST',
    });
  });

  it('a new key the policy refuses is refused (400 naming every field, or 403 for the account) and nothing is inserted', async () => {
    const refused = await useCase(narrow)
      .execute(command())
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((refused as DomainError).fieldErrors.map((f) => f.field)).toEqual(['amount', 'currency', 'callbackUrl']);
    await expect(useCase(wide).execute(command({ accountId: '456', idempotencyKey: 'k2' }))).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    expect(inserts).not.toHaveBeenCalled();
    expect(recharges.rows.size).toBe(0);
  });
});
