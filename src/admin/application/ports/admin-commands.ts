import { OperatorActionRecord } from '../../../recharge/application/ports/operator-action';

/**
 * Operator actions that do not go through the recharge aggregate. Each runs in one transaction with
 * its audit record.
 */
export abstract class AdminCommands {
  /**
   * Makes the latest callback of the recharge due now (pending, same webhook-id). Null when the
   * recharge has no callback yet (no callbackUrl, or not final).
   */
  abstract redeliverLatestCallback(
    rechargeId: string,
    audit: Omit<OperatorActionRecord, 'targetId' | 'detail'>,
  ): Promise<{ deliveryId: string; eventType: string } | null>;
  /** 'missing' / 'already' when there is nothing to acknowledge. */
  abstract acknowledgeDiscrepancy(
    id: string,
    note: string,
    audit: Omit<OperatorActionRecord, 'rechargeId'>,
  ): Promise<'acknowledged' | 'missing' | 'already'>;
}

export abstract class OperatorTelemetry {
  abstract action(action: string): void;
}
