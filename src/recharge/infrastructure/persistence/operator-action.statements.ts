import { Statement } from '../../../database/pg-statements';
import { OperatorActionRecord } from '../../application/ports/operator-action';

/** An operator's audited action, written in the transaction of the change it caused. */
export const INSERT_OPERATOR_ACTION: Statement = {
  name: 'operator_action_insert_v1',
  text: `INSERT INTO operator_actions (operator_id, action, target_type, target_id, recharge_id, reason, detail, at)
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`,
};

export const operatorActionParams = (a: OperatorActionRecord): unknown[] => [
  a.operatorId,
  a.action,
  a.targetType,
  a.targetId,
  a.rechargeId,
  a.reason,
  JSON.stringify(a.detail),
  a.at,
];
