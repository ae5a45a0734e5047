export interface CallbackDelivery {
  /** Also the `webhook-id` header: the same on every retry, so receivers can deduplicate. */
  id: string;
  /** The recharge the event is about; null for an event about a rule (`rule.disabled`). */
  rechargeId: string | null;
  url: string;
  eventType: string;
  payload: string;
  webhookSecret: string;
  /** A revoked client gets no more callbacks: its pending deliveries are abandoned unsent. */
  clientRevoked: boolean;
  attempts: number;
  createdAt: Date;
}

export interface DeliveryAttempt {
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /**
   * The destination is refused for good (its host left CALLBACK_ALLOWED_HOSTS, the URL carries
   * user info, the client was revoked): no retry is scheduled, `error` says why.
   */
  abandoned?: boolean;
}

/** `superseded`: a newer callback of the same recharge was queued before this one was delivered. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'superseded';

/**
 * Callbacks written in the same transaction as the final transition, delivered later by a worker:
 * one recharge's callbacks in order, one at a time, a waiting older one superseded by a newer one.
 */
export abstract class CallbackOutbox {
  /**
   * Claims due deliveries with a lease (SKIP LOCKED), so each is attempted by one replica at a time,
   * and none while another delivery of the same recharge is leased.
   */
  abstract claimDue(limit: number, now: Date, leaseUntil: Date): Promise<CallbackDelivery[]>;
  /**
   * Records the attempt and ends the lease; `nextAttemptAt` null with `delivered` false means we
   * gave up. Returns the stored status: `superseded` when a newer callback replaced it meanwhile.
   */
  abstract recordAttempt(
    id: string,
    at: Date,
    attempt: DeliveryAttempt,
    delivered: boolean,
    nextAttemptAt: Date | null,
  ): Promise<DeliveryStatus>;
}

/**
 * Sends one callback. Implementations check the destination at every attempt (allowlist, resolved
 * addresses) and never follow redirects; a refusal is an attempt with `error` set, not a throw.
 */
export abstract class CallbackSender {
  abstract send(delivery: CallbackDelivery, at: Date): Promise<DeliveryAttempt>;
}
