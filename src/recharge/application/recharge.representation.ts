import { Recharge, RechargeTransition } from '../domain/recharge';
import { STATUS_OF } from '../domain/recharge-state';

/** The public recharge representation of docs/api.md (also the data of callbacks). */
export function presentRecharge(r: Recharge) {
  return {
    id: r.id,
    status: STATUS_OF[r.state],
    state: r.state,
    accountId: r.accountId,
    amount: Number(r.amountMinor),
    currency: r.currency,
    orderReference: r.orderReference,
    metadata: r.metadata,
    callbackUrl: r.callbackUrl,
    providerReference: r.providerReference,
    message: r.message,
    failure: r.failure(),
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    completedAt: r.completedAt?.toISOString() ?? null,
  };
}

export const presentTransition = (t: RechargeTransition) => ({
  from: t.from,
  to: t.to,
  reason: t.reason,
  source: t.source,
  at: t.at.toISOString(),
});
