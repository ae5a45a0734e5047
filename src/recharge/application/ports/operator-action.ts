/**
 * One thing an operator did, for the append-only audit trail. Written in the same transaction as
 * the change it describes, so an action is never done without its record (nor recorded undone).
 */
export interface OperatorActionRecord {
  operatorId: string;
  /** resolve, redrive, redeliver_callback, acknowledge_discrepancy, pause_rule, resume_rule. */
  action: string;
  targetType: 'recharge' | 'discrepancy' | 'rule';
  targetId: string;
  /** The recharge whose timeline shows the action (null for an orphan discrepancy or a rule). */
  rechargeId: string | null;
  reason: string | null;
  detail: Record<string, unknown>;
  at: Date;
}
