import { Injectable } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { DomainError } from '../../../libs/shared/domain-error';
import { Client } from '../../clients/domain/client';
import { Recharge } from '../domain/recharge';
import { RechargeNotFoundError } from '../domain/recharge.errors';
import { RechargeState } from '../domain/recharge-state';
import { RechargeRepository } from './ports/recharge.repository';

@Injectable()
export class CancelRechargeUseCase {
  constructor(
    private readonly recharges: RechargeRepository,
    private readonly clock: Clock,
  ) {}

  /** Only a recharge that has not reached the provider can be canceled by its caller. */
  async execute(client: Client, id: string): Promise<Recharge> {
    const mutation = await this.recharges.mutate(id, (r) => {
      if (r.clientId !== client.id) return 'not-found' as const;
      if (r.state !== RechargeState.CREATED) return 'invalid-state' as const;
      r.cancel('canceled by the client', 'api', this.clock.now());
      return 'canceled' as const;
    });
    if (!mutation || mutation.result === 'not-found') throw new RechargeNotFoundError(id);
    if (mutation.result === 'invalid-state') {
      throw new DomainError(
        'INVALID_STATE',
        `recharge ${id} is ${mutation.recharge.state}; only a CREATED recharge can be canceled`,
      );
    }
    return mutation.recharge;
  }
}
