import { Currency } from '../../../recharge/domain/money';

export interface TopUpRequest {
  clientId: string;
  ruleId: string;
  /** The trigger number: the idempotency key is `rule:<ruleId>:<n>`. */
  n: number;
  accountId: string;
  amount: bigint;
  currency: Currency;
  callbackUrl: string | null;
}

export type TopUpResult = { kind: 'created'; rechargeId: string } | { kind: 'refused'; reason: string };

/**
 * Where a rule's top-ups become ordinary recharges (the same use case as POST /v1/recharges).
 * Creating the same trigger twice yields the same recharge.
 */
export abstract class TopUpRecharges {
  abstract create(request: TopUpRequest): Promise<TopUpResult>;
}

export const topUpIdempotencyKey = (ruleId: string, n: number): string => `rule:${ruleId}:${n}`;
