import { newId } from '../../../libs/shared/ids';
import { Recharge, RechargeTransition } from '../domain/recharge';
import { presentRecharge } from './recharge.representation';

/** A callback about a recharge, ready for the outbox: `id` is also the CloudEvent's id and the `webhook-id`. */
export interface RechargeCallbackEvent {
  id: string;
  eventType: string;
  payload: string;
}

/** The CloudEvent a client's callbackUrl receives when its recharge reaches the transition's (final) state. */
export function rechargeCallbackEvent(recharge: Recharge, t: RechargeTransition): RechargeCallbackEvent {
  const id = newId('msg');
  const eventType = `recharge.${t.to.toLowerCase()}`;
  const event = {
    specversion: '1.0',
    id,
    source: 'alicloud-recharge',
    type: eventType,
    subject: recharge.id,
    time: t.at.toISOString(),
    datacontenttype: 'application/json',
    data: presentRecharge(recharge),
  };
  return { id, eventType, payload: JSON.stringify(event) };
}
