import { ApiProperty } from '@nestjs/swagger';
import { AccountBalancesDto } from '../../api/dto/account.response';
import { RechargeDto } from '../../api/dto/recharge.response';
import { RuleDto } from '../../api/dto/rule.response';

import { CURRENCIES } from '../../recharge/domain/money';
import { ALL_STATES, STATUSES } from '../../recharge/domain/recharge-state';
import { OPERATOR_ROLES } from '../../operators/domain/operator';

/* Response shapes of /admin/v1 for the OpenAPI document; the e2e suite checks real answers against them. */

const INSTANT = { type: 'string', format: 'date-time' } as const;
const NULLABLE_INSTANT = { ...INSTANT, nullable: true } as const;
const NULLABLE_TEXT = { type: 'string', nullable: true } as const;
const INTEGER = { type: 'integer' } as const;
const counts = (keys: readonly string[]) => ({
  type: 'object' as const,
  properties: Object.fromEntries(keys.map((k) => [k, { ...INTEGER }])),
  required: [...keys],
  additionalProperties: false,
});

export class OperatorMeDto {
  @ApiProperty({ pattern: '^opr_' })
  operatorId!: string;

  @ApiProperty()
  name!: string;

  @ApiProperty({ enum: OPERATOR_ROLES })
  role!: string;

  @ApiProperty({ description: 'false for a viewer: the console shows no actions' })
  mayAct!: boolean;
}

class ProviderFiguresDto {
  @ApiProperty(INTEGER) windowSeconds!: number;
  @ApiProperty(INTEGER) calls!: number;
  @ApiProperty(INTEGER) errors!: number;
  @ApiProperty({ type: 'number', minimum: 0, maximum: 1 }) errorRate!: number;
  @ApiProperty({ enum: ['closed', 'half_open', 'open'], description: 'of the replica that answered' })
  circuit!: string;
}

class RateBudgetDto {
  @ApiProperty(INTEGER) limitPerSecond!: number;
  @ApiProperty(INTEGER) callsLastMinute!: number;
  @ApiProperty({ type: 'number', minimum: 0, maximum: 1 }) inUse!: number;
}

class ChartDto {
  @ApiProperty(INTEGER) hours!: number;
  @ApiProperty({ type: 'array', items: { ...INSTANT } }) minutes!: string[];
  @ApiProperty({ type: 'array', items: { ...INTEGER } }) succeeded!: number[];
  @ApiProperty({ type: 'array', items: { ...INTEGER } }) failed!: number[];
  @ApiProperty({ type: 'array', items: { ...INTEGER } }) canceled!: number[];
  @ApiProperty({ type: 'array', items: { type: 'number', nullable: true } }) confirmationP50Seconds!: number[];
  @ApiProperty({ type: 'array', items: { type: 'number', nullable: true } }) confirmationP95Seconds!: number[];
}

export class AdminSummaryDto {
  @ApiProperty(INSTANT) at!: string;
  @ApiProperty({ ...INSTANT, description: 'recharges are counted from here (24 h back)' }) since!: string;
  @ApiProperty(counts(STATUSES)) byStatus!: Record<string, number>;
  @ApiProperty(counts(ALL_STATES)) byState!: Record<string, number>;
  @ApiProperty(INTEGER) pendingBeyondSla!: number;
  @ApiProperty(INTEGER) slaSeconds!: number;
  @ApiProperty(INTEGER) openDiscrepancies!: number;
  @ApiProperty({ type: () => ProviderFiguresDto }) provider!: ProviderFiguresDto;
  @ApiProperty({ type: () => RateBudgetDto }) rateBudget!: RateBudgetDto;
  @ApiProperty(INTEGER) callbacksWaiting!: number;
  @ApiProperty({ type: () => ChartDto }) chart!: ChartDto;
}

export class AdminRechargeDto extends RechargeDto {
  @ApiProperty({ pattern: '^cli_' })
  clientId!: string;
}

export class AdminRechargePageDto {
  @ApiProperty({ type: () => [AdminRechargeDto], description: 'newest first' })
  data!: AdminRechargeDto[];

  @ApiProperty(NULLABLE_TEXT)
  nextCursor!: string | null;
}

class StoryEventDto {
  @ApiProperty({ enum: ALL_STATES, nullable: true }) from!: string | null;
  @ApiProperty({ enum: ALL_STATES }) to!: string;
  @ApiProperty() reason!: string;
  @ApiProperty({ enum: ['api', 'dispatcher', 'webhook', 'reconciliation', 'operator'] }) source!: string;
  @ApiProperty({ ...NULLABLE_TEXT, description: 'the operator, for source operator' }) actor!: string | null;
  @ApiProperty({ description: 'FAILED/TIMEOUT later proven SUCCEEDED' }) correction!: boolean;
  @ApiProperty(INSTANT) at!: string;
}

class ProviderCallDto {
  @ApiProperty(INSTANT) at!: string;
  @ApiProperty({ example: 'ChangeResellerConsumeAmount' }) action!: string;
  @ApiProperty({ ...INTEGER, nullable: true }) attempt!: number | null;
  @ApiProperty() outcome!: string;
  @ApiProperty(NULLABLE_TEXT) providerCode!: string | null;
  @ApiProperty({ ...INTEGER, nullable: true }) httpStatus!: number | null;
  @ApiProperty(INTEGER) durationMs!: number;
  @ApiProperty({ ...NULLABLE_TEXT, description: "the provider's RequestId" }) requestId!: string | null;
}

class StoryNotificationDto {
  @ApiProperty() webhookId!: string;
  @ApiProperty() type!: string;
  @ApiProperty() ownerId!: string;
  @ApiProperty({ description: 'major units, as the provider sent it' }) amount!: string;
  @ApiProperty() currency!: string;
  @ApiProperty(NULLABLE_TEXT) transactionNumber!: string | null;
  @ApiProperty(NULLABLE_TEXT) failureCode!: string | null;
  @ApiProperty(INSTANT) receivedAt!: string;
  @ApiProperty(NULLABLE_INSTANT) processedAt!: string | null;
  @ApiProperty(NULLABLE_TEXT) result!: string | null;
  @ApiProperty(NULLABLE_TEXT) detail!: string | null;
}

class StoryCallbackDto {
  @ApiProperty() id!: string;
  @ApiProperty() eventType!: string;
  @ApiProperty() url!: string;
  @ApiProperty() status!: string;
  @ApiProperty(INTEGER) attempts!: number;
  @ApiProperty(NULLABLE_INSTANT) nextAttemptAt!: string | null;
  @ApiProperty(INSTANT) createdAt!: string;
  @ApiProperty(NULLABLE_INSTANT) deliveredAt!: string | null;
}

class StoryCallbackAttemptDto {
  @ApiProperty() deliveryId!: string;
  @ApiProperty() eventType!: string;
  @ApiProperty(INSTANT) attemptedAt!: string;
  @ApiProperty({ ...INTEGER, nullable: true }) statusCode!: number | null;
  @ApiProperty(INTEGER) latencyMs!: number;
  @ApiProperty(NULLABLE_TEXT) error!: string | null;
}

class StoryLedgerEntryDto {
  @ApiProperty() id!: string;
  @ApiProperty({ example: 'customer:1234567890123456' }) ledgerAccount!: string;
  @ApiProperty(NULLABLE_TEXT) accountId!: string | null;
  @ApiProperty({ enum: ['credit', 'debit'] }) direction!: string;
  @ApiProperty(INTEGER) amount!: number;
  @ApiProperty({ enum: CURRENCIES }) currency!: string;
  @ApiProperty(INSTANT) at!: string;
}

export class DiscrepancyDto {
  @ApiProperty({ pattern: '^dsc_' }) id!: string;
  @ApiProperty(NULLABLE_TEXT) rechargeId!: string | null;
  @ApiProperty({ example: 'success_after_cancel' }) kind!: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'what was seen' }) evidence!: unknown;
  @ApiProperty(INSTANT) seenAt!: string;
  @ApiProperty(NULLABLE_TEXT) acknowledgedBy!: string | null;
  @ApiProperty(NULLABLE_TEXT) acknowledgedByName!: string | null;
  @ApiProperty(NULLABLE_INSTANT) acknowledgedAt!: string | null;
  @ApiProperty(NULLABLE_TEXT) acknowledgementNote!: string | null;
}

class OperatorActionDto {
  @ApiProperty() id!: string;
  @ApiProperty() operatorId!: string;
  @ApiProperty() operatorName!: string;
  @ApiProperty() action!: string;
  @ApiProperty() targetType!: string;
  @ApiProperty() targetId!: string;
  @ApiProperty(NULLABLE_TEXT) reason!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true }) detail!: unknown;
  @ApiProperty(INSTANT) at!: string;
}

export class RechargeStoryDto extends AdminRechargeDto {
  @ApiProperty({ type: () => [StoryEventDto] }) events!: StoryEventDto[];
  @ApiProperty({ type: () => [ProviderCallDto] }) providerCalls!: ProviderCallDto[];
  @ApiProperty({ type: () => [StoryNotificationDto] }) notifications!: StoryNotificationDto[];
  @ApiProperty({ type: () => [StoryCallbackDto] }) callbacks!: StoryCallbackDto[];
  @ApiProperty({ type: () => [StoryCallbackAttemptDto] }) callbackAttempts!: StoryCallbackAttemptDto[];
  @ApiProperty({ type: () => [StoryLedgerEntryDto] }) ledger!: StoryLedgerEntryDto[];
  @ApiProperty({ type: () => [DiscrepancyDto] }) discrepancies!: DiscrepancyDto[];
  @ApiProperty({ type: () => [OperatorActionDto] }) operatorActions!: OperatorActionDto[];
}

export class DiscrepancyPageDto {
  @ApiProperty({ type: () => [DiscrepancyDto], description: 'newest first' })
  data!: DiscrepancyDto[];

  @ApiProperty(NULLABLE_TEXT)
  nextCursor!: string | null;
}

export class AcknowledgedDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: [true] }) acknowledged!: boolean;
}

export class RedeliveryDto {
  @ApiProperty() rechargeId!: string;
  @ApiProperty() deliveryId!: string;
  @ApiProperty({ example: 'recharge.succeeded' }) eventType!: string;
  @ApiProperty({ enum: ['pending'] }) status!: string;
}

class ProviderQuotaDto {
  @ApiProperty({ ...INTEGER, description: 'minor units' }) amount!: number;
  @ApiProperty({ enum: CURRENCIES }) currency!: string;
  @ApiProperty({ ...INSTANT, description: 'when it was read (cached up to 30 s)' }) at!: string;
}

/** A client's rule as operators see it: the client API's representation plus whose rule it is. */
export class AdminRuleDto extends RuleDto {
  @ApiProperty() clientId!: string;
}

export class AdminRulePageDto {
  @ApiProperty({ type: () => [AdminRuleDto], description: 'newest first' }) data!: AdminRuleDto[];
  @ApiProperty({ type: 'string', nullable: true }) nextCursor!: string | null;
}

export class AccountViewDto extends AccountBalancesDto {
  @ApiProperty({ type: () => ProviderQuotaDto, nullable: true }) providerQuota!: ProviderQuotaDto | null;
  @ApiProperty({ ...NULLABLE_TEXT, description: 'why the live quota could not be read' })
  providerQuotaError!: string | null;
  @ApiProperty({ type: () => [AdminRuleDto] }) rules!: AdminRuleDto[];
  @ApiProperty({ type: () => [AdminRechargeDto] }) recentRecharges!: AdminRechargeDto[];
}
