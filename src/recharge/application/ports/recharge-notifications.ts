/**
 * Cross-replica signals that a commit made (PostgreSQL LISTEN/NOTIFY in production). They only
 * wake work up early; every consumer also polls, so a lost signal costs latency, never money.
 */
export abstract class RechargeNotifications {
  /** Subscribes to "a recharge was created" anywhere; returns an unsubscribe function. */
  abstract onCreated(listener: (rechargeId: string) => void): () => void;
  /** Subscribes to "this recharge changed state" anywhere; returns an unsubscribe function. */
  abstract onChanged(listener: (rechargeId: string) => void): () => void;
}
