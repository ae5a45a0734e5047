import { Injectable } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { DomainError, FieldError } from '../../../libs/shared/domain-error';
import { newId } from '../../../libs/shared/ids';
import { Client } from '../../clients/domain/client';
import { Currency, isCurrency, Money } from '../domain/money';
import { Recharge } from '../domain/recharge';
import { DuplicateRequestError } from '../domain/recharge.errors';
import { requestFingerprint } from '../domain/request-fingerprint';
import { RechargeNotifications } from './ports/recharge-notifications';
import { RechargeRepository } from './ports/recharge.repository';
import { callbackUrlProblem, RechargePolicy } from './recharge-policy';

export interface CreateRechargeCommand {
  client: Client;
  idempotencyKey: string;
  accountId: string;
  amount: number;
  currency: string;
  orderReference: string | null;
  metadata: Record<string, string>;
  callbackUrl: string | null;
}

export type CreateRechargeResult = { outcome: 'created' | 'replayed'; recharge: Recharge };

@Injectable()
export class CreateRechargeUseCase {
  constructor(
    private readonly recharges: RechargeRepository,
    private readonly policy: RechargePolicy,
    private readonly clock: Clock,
    private readonly notifications: RechargeNotifications,
  ) {}

  async execute(cmd: CreateRechargeCommand): Promise<CreateRechargeResult> {
    const fingerprint = requestFingerprint(cmd);
    const refusal = this.policyRefusal(cmd);
    if (refusal) {
      // A replay is answered before the policy: narrowing a limit, the currencies, the callback
      // hosts or the client's accounts later never turns the replay of an accepted request into an
      // error. Only refused requests pay for this lookup; new keys go straight to the one insert.
      const existing = await this.recharges.findByIdempotencyKey(cmd.client.id, cmd.idempotencyKey);
      if (existing) return this.replay(existing, fingerprint, cmd.idempotencyKey);
      throw refusal;
    }
    const candidate = Recharge.create(
      {
        id: newId('rch'),
        clientId: cmd.client.id,
        idempotencyKey: cmd.idempotencyKey,
        requestFingerprint: fingerprint,
        accountId: cmd.accountId,
        amount: Money.of(cmd.amount, cmd.currency as Currency),
        orderReference: cmd.orderReference,
        metadata: cmd.metadata,
        callbackUrl: cmd.callbackUrl,
      },
      this.clock.now(),
    );
    const { created, recharge } = await this.recharges.createIfAbsent(candidate);
    if (created) {
      this.notifications.announceCreated(recharge.id);
      return { outcome: 'created', recharge };
    }
    return this.replay(recharge, fingerprint, cmd.idempotencyKey);
  }

  /** Same key and same request → the stored recharge as it is now; same key, another request → 422. */
  private replay(recharge: Recharge, fingerprint: string, idempotencyKey: string): CreateRechargeResult {
    if (recharge.requestFingerprint !== fingerprint) throw new DuplicateRequestError(idempotencyKey);
    return { outcome: 'replayed', recharge };
  }

  /** What the configuration and the client's accounts say about a new request; null when it may go ahead. */
  private policyRefusal(cmd: CreateRechargeCommand): DomainError | null {
    if (!cmd.client.mayAccess(cmd.accountId)) {
      return new DomainError('UNAUTHORIZED', `this client may not recharge account ${cmd.accountId}`);
    }
    const errors: FieldError[] = [];
    if (cmd.amount > this.policy.maxRechargeAmount) {
      errors.push({ field: 'amount', message: `amount must not exceed ${this.policy.maxRechargeAmount} minor units` });
    }
    if (!isCurrency(cmd.currency) || !this.policy.supportedCurrencies.includes(cmd.currency)) {
      errors.push({
        field: 'currency',
        message: `currency must be one of ${this.policy.supportedCurrencies.join(', ')}`,
      });
    }
    const callbackProblem = cmd.callbackUrl
      ? callbackUrlProblem(cmd.callbackUrl, this.policy.callbackAllowedHosts)
      : null;
    if (callbackProblem) errors.push(callbackProblem);
    return errors.length > 0 ? new DomainError('INVALID_ARGUMENT', 'the request is invalid', errors) : null;
  }
}
