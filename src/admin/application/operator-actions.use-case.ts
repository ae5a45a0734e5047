import { Injectable } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { DomainError } from '../../../libs/shared/domain-error';
import { Operator } from '../../operators/domain/operator';
import { OperatorActionRecord } from '../../recharge/application/ports/operator-action';
import { RechargeNotifications } from '../../recharge/application/ports/recharge-notifications';
import { RechargeRepository } from '../../recharge/application/ports/recharge.repository';
import { Recharge } from '../../recharge/domain/recharge';
import { RechargeNotFoundError } from '../../recharge/domain/recharge.errors';
import { AccountRules } from './ports/account-rules';
import { AdminCommands, OperatorTelemetry } from './ports/admin-commands';

export type Resolution = 'succeeded' | 'not_applied';

/**
 * What an operator may do. Each action checks the role, goes through the same paths as the
 * service's own work (the aggregate under its row lock, the callback outbox) and is recorded in
 * operator_actions in the same transaction, then counted in operator_actions_total{action}.
 */
@Injectable()
export class OperatorActionsUseCase {
  constructor(
    private readonly recharges: RechargeRepository,
    private readonly commands: AdminCommands,
    private readonly notifications: RechargeNotifications,
    private readonly telemetry: OperatorTelemetry,
    private readonly clock: Clock,
    private readonly rules: AccountRules,
  ) {}

  /**
   * Settles an unknown outcome after checking at the provider: SUCCEEDED credits the ledger in the
   * same transaction (from FAILED/TIMEOUT it is a correction); NOT_APPLIED makes the failure definitive.
   */
  async resolve(
    operator: Operator,
    rechargeId: string,
    outcome: Resolution,
    reason: string,
    providerReference: string | null,
  ): Promise<Recharge> {
    mayAct(operator);
    const now = this.clock.now();
    const who = { id: operator.id, name: operator.name };
    const mutation = await this.recharges.mutate(
      rechargeId,
      (r) =>
        outcome === 'succeeded'
          ? r.resolveSucceeded(who, providerReference, reason, now)
          : r.resolveNotApplied(who, reason, now),
      this.record(operator, 'resolve', rechargeId, reason, { outcome, providerReference }, now),
    );
    if (!mutation) throw new RechargeNotFoundError(rechargeId);
    this.telemetry.action('resolve');
    return mutation.recharge;
  }

  /** Re-send now with the same OutBizId (the provider applies an OutBizId at most once). */
  async redrive(operator: Operator, rechargeId: string, reason: string): Promise<Recharge> {
    mayAct(operator);
    const now = this.clock.now();
    const mutation = await this.recharges.mutate(
      rechargeId,
      (r) => r.redrive(now),
      this.record(operator, 'redrive', rechargeId, reason, {}, now),
    );
    if (!mutation) throw new RechargeNotFoundError(rechargeId);
    // Wakes this replica's dispatcher; the others find it due at their next poll.
    this.notifications.announceCreated(rechargeId);
    this.telemetry.action('redrive');
    return mutation.recharge;
  }

  /** The latest callback again, with the same webhook-id (receivers deduplicate on it). */
  async redeliverCallback(
    operator: Operator,
    rechargeId: string,
    reason: string,
  ): Promise<{ deliveryId: string; eventType: string }> {
    mayAct(operator);
    const recharge = await this.recharges.findById(rechargeId);
    if (!recharge) throw new RechargeNotFoundError(rechargeId);
    const now = this.clock.now();
    const {
      targetId: _t,
      detail: _d,
      ...audit
    } = this.record(operator, 'redeliver_callback', rechargeId, reason, {}, now);
    const delivery = await this.commands.redeliverLatestCallback(rechargeId, audit);
    if (!delivery)
      throw new DomainError(
        'INVALID_STATE',
        `recharge ${rechargeId} has no callback to redeliver (no callbackUrl, or not final yet)`,
      );
    this.telemetry.action('redeliver_callback');
    return delivery;
  }

  async acknowledgeDiscrepancy(operator: Operator, id: string, note: string): Promise<void> {
    mayAct(operator);
    const now = this.clock.now();
    const result = await this.commands.acknowledgeDiscrepancy(id, note, {
      operatorId: operator.id,
      action: 'acknowledge_discrepancy',
      targetType: 'discrepancy',
      targetId: id,
      reason: note,
      detail: {},
      at: now,
    });
    if (result === 'missing') throw new DomainError('NOT_FOUND', `discrepancy ${id} not found`);
    if (result === 'already') throw new DomainError('INVALID_STATE', `discrepancy ${id} is already acknowledged`);
    this.telemetry.action('acknowledge_discrepancy');
  }

  /**
   * Pauses or resumes any client's auto-recharge rule (as the client's PATCH would: resuming a
   * disabled rule starts its run of failures over and evaluates it at once), recorded with the reason.
   */
  async setRuleStatus(
    operator: Operator,
    ruleId: string,
    status: 'active' | 'paused',
    reason: string,
  ): Promise<Record<string, unknown>> {
    mayAct(operator);
    const action = status === 'paused' ? 'pause_rule' : 'resume_rule';
    const rule = await this.rules.setStatus(ruleId, status, {
      operatorId: operator.id,
      action,
      targetType: 'rule',
      targetId: ruleId,
      rechargeId: null,
      reason,
      detail: {},
      at: this.clock.now(),
    });
    this.telemetry.action(action);
    return rule;
  }

  private record(
    operator: Operator,
    action: string,
    rechargeId: string,
    reason: string,
    detail: Record<string, unknown>,
    at: Date,
  ): OperatorActionRecord {
    return {
      operatorId: operator.id,
      action,
      targetType: 'recharge',
      targetId: rechargeId,
      rechargeId,
      reason,
      detail,
      at,
    };
  }
}

/** A viewer reads everything and changes nothing. */
export function mayAct(operator: Operator): void {
  if (!operator.mayAct())
    throw new DomainError('UNAUTHORIZED', `operator ${operator.name} is a viewer: only the operator role may act`);
}
