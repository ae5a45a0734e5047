import { DomainError } from '../../../libs/shared/domain-error';
import { FixedClock } from '../../../test/support/fakes/fixed-clock';
import { InMemoryRechargeRepository } from '../../../test/support/fakes/in-memory-recharge.repository';
import { aRecharge } from '../../../test/support/fakes/recharge-builder';
import { Client } from '../../clients/domain/client';
import { RechargeNotFoundError } from '../domain/recharge.errors';
import { RechargeState } from '../domain/recharge-state';
import { CancelRechargeUseCase } from './cancel-recharge.use-case';

/** A caller cancels only what has not reached the provider, and only its own recharges. */
describe('CancelRechargeUseCase (in-memory repository)', () => {
  const clock = new FixedClock();
  const owner = Client.register('cli_owner', 'billing', ['*'], clock.now()).client;
  const stranger = Client.register('cli_other', 'ops', ['*'], clock.now()).client;
  let recharges: InMemoryRechargeRepository;
  let cancel: CancelRechargeUseCase;

  beforeEach(() => {
    recharges = new InMemoryRechargeRepository();
    cancel = new CancelRechargeUseCase(recharges, clock);
  });

  const stored = () => recharges.put(aRecharge(clock.now(), { clientId: owner.id }));

  it('cancels a CREATED recharge of its own client: CANCELED, failure CANCELED, one api event', async () => {
    const r = stored();
    const canceled = await cancel.execute(owner, r.id);
    expect(canceled.state).toBe(RechargeState.CANCELED);
    expect(canceled.failure()).toMatchObject({ code: 'CANCELED', providerCode: null });
    expect(canceled.completedAt).toEqual(clock.now());
    expect(recharges.get(r.id).state).toBe(RechargeState.CANCELED);
    expect(await recharges.transitions(r.id)).toEqual([
      expect.objectContaining({ from: RechargeState.CREATED, to: RechargeState.CANCELED, source: 'api' }),
    ]);
  });

  it.each([RechargeState.SUBMITTED, RechargeState.PENDING_CONFIRMATION])(
    'refuses once the recharge may have reached the provider (%s): 409 INVALID_STATE, nothing changes',
    async (state) => {
      const r = stored();
      await recharges.mutate(r.id, (x) => {
        x.submit('dispatcher', clock.now());
        if (state === RechargeState.PENDING_CONFIRMATION) x.awaitConfirmation('unknown', 'dispatcher', clock.now());
      });
      const before = await recharges.transitions(r.id);
      const err = await cancel.execute(owner, r.id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe('INVALID_STATE');
      expect(recharges.get(r.id).state).toBe(state);
      expect(await recharges.transitions(r.id)).toEqual(before);
    },
  );

  it("another client's recharge and an unknown id are both not found (nobody learns it exists)", async () => {
    const r = stored();
    await expect(cancel.execute(stranger, r.id)).rejects.toBeInstanceOf(RechargeNotFoundError);
    await expect(cancel.execute(owner, 'rch_missing')).rejects.toBeInstanceOf(RechargeNotFoundError);
    expect(recharges.get(r.id).state).toBe(RechargeState.CREATED);
  });
});
