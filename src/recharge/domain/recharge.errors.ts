import { DomainError } from '../../../libs/shared/domain-error';
import { RechargeState } from './recharge-state';

export class InvalidTransitionError extends DomainError {
  constructor(
    readonly rechargeId: string,
    readonly from: RechargeState,
    readonly to: RechargeState,
    detail = '',
  ) {
    super('INVALID_STATE', `recharge ${rechargeId} cannot move from ${from} to ${to}${detail ? `: ${detail}` : ''}`);
  }
}

export class RechargeNotFoundError extends DomainError {
  constructor(id: string) {
    super('NOT_FOUND', `recharge ${id} not found`);
  }
}

export class DuplicateRequestError extends DomainError {
  constructor(idempotencyKey: string) {
    super('DUPLICATE_REQUEST', `Idempotency-Key "${idempotencyKey}" was already used with a different request`);
  }
}
