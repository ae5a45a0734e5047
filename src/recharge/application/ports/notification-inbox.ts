export type NotificationType = 'bss:Recharge:Succeeded' | 'bss:Recharge:Failed' | 'bss:Recharge:Canceled';
export type NotificationResult = 'applied' | 'duplicate' | 'ignored' | 'orphan' | 'discrepancy';

/** A verified provider notification (contract section 5), as stored in the inbox. */
export interface ProviderNotification {
  webhookId: string;
  eventId: string;
  type: NotificationType;
  outBizId: string;
  ownerId: string;
  amount: string;
  currency: string;
  transactionNumber: string | null;
  failureCode: string | null;
  receivedAt: Date;
}

export abstract class NotificationInbox {
  /** Persists a notification before anything else; false when its webhook-id was already stored. */
  abstract store(notification: ProviderNotification, payload: unknown): Promise<boolean>;
  /** Notifications never processed (received before `before`) and orphans still waiting for a match. */
  abstract pending(before: Date, limit: number): Promise<Array<ProviderNotification & { orphan: boolean }>>;
  /** Records the result once: a later, concurrent completion does not overwrite it (orphans excepted). */
  abstract complete(webhookId: string, result: NotificationResult, detail: string | null, at: Date): Promise<void>;
}
