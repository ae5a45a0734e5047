export interface CallbackDelivery {
  /** Also the `webhook-id` header: the same on every retry, so receivers can deduplicate. */
  id: string;
  /** The recharge the event is about; null for an event about a rule (`rule.disabled`). */
  rechargeId: string | null;
  url: string;
  eventType: string;
  payload: string;
  webhookSecret: string;
  attempts: number;
  createdAt: Date;
}

export interface DeliveryAttempt {
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

/** Callbacks written in the same transaction as the final transition, delivered later by a worker. */
export abstract class CallbackOutbox {
  /** Claims due deliveries with a lease (SKIP LOCKED), so each is attempted by one replica at a time. */
  abstract claimDue(limit: number, now: Date, leaseUntil: Date): Promise<CallbackDelivery[]>;
  /** Records the attempt; `nextAttemptAt` null with `delivered` false means we gave up. */
  abstract recordAttempt(
    id: string,
    at: Date,
    attempt: DeliveryAttempt,
    delivered: boolean,
    nextAttemptAt: Date | null,
  ): Promise<void>;
}

export abstract class CallbackSender {
  abstract send(delivery: CallbackDelivery, at: Date): Promise<DeliveryAttempt>;
}
