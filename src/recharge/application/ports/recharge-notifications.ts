/**
 * Signals that a commit made. They only wake work up early; every consumer also polls, so a lost
 * signal costs latency, never money.
 */
export abstract class RechargeNotifications {
  /**
   * Announces, after its commit, a recharge created by this replica. Only this replica's
   * listeners hear it (other replicas find new work by polling): a NOTIFY in the insert would
   * serialise every API commit on PostgreSQL's notification lock, defeating group commit.
   */
  abstract announceCreated(rechargeId: string): void;
  /** Subscribes to "a recharge was created" on this replica; returns an unsubscribe function. */
  abstract onCreated(listener: (rechargeId: string) => void): () => void;
  /**
   * Subscribes to "this recharge reached a final state" on any replica (LISTEN/NOTIFY), and whether
   * that queued a callback; returns an unsubscribe function.
   */
  abstract onFinished(listener: (rechargeId: string, callbackQueued: boolean) => void): () => void;
}
