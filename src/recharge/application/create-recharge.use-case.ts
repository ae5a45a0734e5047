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
import { isAllowedCallbackHost, RechargePolicy } from './recharge-policy';

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
    if (!cmd.client.mayAccess(cmd.accountId)) {
      throw new DomainError('UNAUTHORIZED', `this client may not recharge account ${cmd.accountId}`);
    }
    const currency = this.checkPolicy(cmd);
    const fingerprint = requestFingerprint(cmd);
    const candidate = Recharge.create(
      {
        id: newId('rch'),
        clientId: cmd.client.id,
        idempotencyKey: cmd.idempotencyKey,
        requestFingerprint: fingerprint,
        accountId: cmd.accountId,
        amount: Money.of(cmd.amount, currency),
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
    if (recharge.requestFingerprint !== fingerprint) throw new DuplicateRequestError(cmd.idempotencyKey);
    return { outcome: 'replayed', recharge };
  }

  private checkPolicy(cmd: CreateRechargeCommand): Currency {
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
    const callbackUrl = cmd.callbackUrl ? new URL(cmd.callbackUrl) : null;
    if (callbackUrl && (callbackUrl.username || callbackUrl.password)) {
      // Credentials in a URL end up in logs and stored errors; receivers authenticate by signature.
      errors.push({ field: 'callbackUrl', message: 'callbackUrl must not carry user info (user:password@)' });
    } else if (callbackUrl && !isAllowedCallbackHost(callbackUrl.hostname, this.policy.callbackAllowedHosts)) {
      errors.push({ field: 'callbackUrl', message: 'callbackUrl host is not in CALLBACK_ALLOWED_HOSTS' });
    }
    if (errors.length > 0) throw new DomainError('INVALID_ARGUMENT', 'the request is invalid', errors);
    return cmd.currency as Currency;
  }
}
