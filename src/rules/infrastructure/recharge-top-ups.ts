import { Injectable } from '@nestjs/common';
import { DomainError } from '../../../libs/shared/domain-error';
import { ClientRepository } from '../../clients/application/client.repository';
import { CreateRechargeUseCase } from '../../recharge/application/create-recharge.use-case';
import { TopUpRecharges, TopUpRequest, TopUpResult, topUpIdempotencyKey } from '../application/ports/top-up-recharges';

/**
 * Refusals that will not go away by retrying: the top-up counts as failed. (DUPLICATE_REQUEST
 * cannot happen: a trigger's request is stored with it and replayed unchanged.)
 */
const REFUSALS = new Set(['UNAUTHORIZED', 'INVALID_ARGUMENT']);

/** A rule's top-up through CreateRechargeUseCase, exactly as if its client had POSTed it. */
@Injectable()
export class RechargeTopUps extends TopUpRecharges {
  constructor(
    private readonly clients: ClientRepository,
    private readonly createRecharge: CreateRechargeUseCase,
  ) {
    super();
  }

  async create(r: TopUpRequest): Promise<TopUpResult> {
    const client = await this.clients.findById(r.clientId);
    if (!client || !client.isActive()) return { kind: 'refused', reason: `client ${r.clientId} is revoked` };
    try {
      const { recharge } = await this.createRecharge.execute({
        client,
        idempotencyKey: topUpIdempotencyKey(r.ruleId, r.n),
        accountId: r.accountId,
        amount: Number(r.amount),
        currency: r.currency,
        orderReference: null,
        metadata: { ruleId: r.ruleId },
        callbackUrl: r.callbackUrl,
      });
      return { kind: 'created', rechargeId: recharge.id };
    } catch (err) {
      if (err instanceof DomainError && REFUSALS.has(err.code)) return { kind: 'refused', reason: err.message };
      throw err;
    }
  }
}
