/**
 * Something the provider told us that contradicts our books or cannot be settled automatically.
 * It changes no state and credits nothing; it is kept for an operator to look at and acknowledge.
 */
export type DiscrepancyKind =
  /** The provider applied a credit for a recharge we had CANCELED. */
  | 'success_after_cancel'
  /** The provider applied a credit for a recharge that is FAILED for a reason other than our TIMEOUT. */
  | 'success_after_failure'
  /** The provider said the OutBizId exists already or was used with other parameters. */
  | 'out_biz_id_conflict'
  /** A notification's owner, amount or currency do not match the recharge. */
  | 'notification_mismatch';

export interface Discrepancy {
  /** `dsc_` + a sortable unique id. */
  id: string;
  /** Null for what matches no recharge (an orphan). */
  rechargeId: string | null;
  kind: DiscrepancyKind;
  /**
   * What was seen, as JSON: the provider's code, message and RequestId, the notification, our
   * recharge's values. A `webhookId` member marks one found from a notification: it is kept once
   * per notification and kind. Any other is kept once per recharge and kind while open.
   */
  evidence: Record<string, unknown>;
  seenAt: Date;
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
  acknowledgementNote: string | null;
}
