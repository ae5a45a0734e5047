import { Injectable } from '@nestjs/common';
import { PgStatements, Statement } from '../../database/pg-statements';
import { OperatorActionRecord } from '../../recharge/application/ports/operator-action';
import {
  INSERT_OPERATOR_ACTION,
  operatorActionParams,
} from '../../recharge/infrastructure/persistence/operator-action.statements';
import { AdminCommands } from '../application/ports/admin-commands';

/** The recharge's row lock: the same one under which its callbacks are queued and superseded. */
const LOCK_RECHARGE: Statement = {
  name: 'admin_lock_recharge_v1',
  text: `SELECT id FROM recharges WHERE id = $1 FOR UPDATE`,
};

/**
 * The latest delivery of the recharge becomes due now. A delivered or abandoned one is pending
 * again; its id (the webhook-id) is kept, so a receiver that already has it can deduplicate.
 * A superseded one is never the latest (a newer one replaced it). A waiting one, if any, is the
 * latest by construction (any newer one would have superseded it): it is chosen first, whatever
 * the timestamps say (replicas' clocks differ), so a second waiting callback is never made.
 */
const REDELIVER_LATEST: Statement = {
  name: 'admin_redeliver_latest_callback_v2',
  text: `UPDATE callback_deliveries SET status = 'pending', next_attempt_at = $2
    WHERE id = (SELECT id FROM callback_deliveries WHERE recharge_id = $1 AND status <> 'superseded'
                ORDER BY (status = 'pending') DESC, created_at DESC, id DESC LIMIT 1)
    RETURNING id, event_type`,
};

const ACKNOWLEDGE: Statement = {
  name: 'admin_acknowledge_discrepancy_v1',
  text: `UPDATE discrepancies SET acknowledged_by = $2, acknowledged_at = $3, acknowledgement_note = $4
    WHERE id = $1 AND acknowledged_at IS NULL
    RETURNING recharge_id`,
};

const DISCREPANCY_EXISTS: Statement = {
  name: 'admin_discrepancy_exists_v1',
  text: `SELECT 1 FROM discrepancies WHERE id = $1`,
};

@Injectable()
export class PgAdminCommands extends AdminCommands {
  constructor(private readonly sql: PgStatements) {
    super();
  }

  redeliverLatestCallback(
    rechargeId: string,
    audit: Omit<OperatorActionRecord, 'targetId' | 'detail'>,
  ): Promise<{ deliveryId: string; eventType: string } | null> {
    return this.sql.transaction(async (tx) => {
      // Under the recharge's lock no callback of it is queued meanwhile (no race with the one-waiting index).
      await tx.query(LOCK_RECHARGE, [rechargeId]);
      const [row] = await tx.query<{ id: string; event_type: string }>(REDELIVER_LATEST, [rechargeId, audit.at]);
      if (!row) return null;
      await tx.query(
        INSERT_OPERATOR_ACTION,
        operatorActionParams({
          ...audit,
          targetId: rechargeId,
          detail: { deliveryId: row.id, eventType: row.event_type },
        }),
      );
      return { deliveryId: row.id, eventType: row.event_type };
    });
  }

  acknowledgeDiscrepancy(
    id: string,
    note: string,
    audit: Omit<OperatorActionRecord, 'rechargeId'>,
  ): Promise<'acknowledged' | 'missing' | 'already'> {
    return this.sql.transaction(async (tx) => {
      const [row] = await tx.query<{ recharge_id: string | null }>(ACKNOWLEDGE, [id, audit.operatorId, audit.at, note]);
      if (!row) return (await tx.query(DISCREPANCY_EXISTS, [id])).length > 0 ? 'already' : 'missing';
      await tx.query(INSERT_OPERATOR_ACTION, operatorActionParams({ ...audit, rechargeId: row.recharge_id }));
      return 'acknowledged';
    });
  }
}
