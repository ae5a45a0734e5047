import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CURRENCIES } from '../../recharge/domain/money';
import { DECISIONS } from '../../rules/domain/rule-evaluation';
import { RULE_STATUSES } from '../../rules/domain/rule';
import { ACCOUNT_ID_SCHEMA } from './recharge.response';

/* Response shapes of /v1/rules for the OpenAPI document (see recharge.response.ts). */

const ISO_INSTANT = { type: 'string', format: 'date-time' } as const;

export class RuleTriggerResponseDto {
  @ApiProperty({ enum: ['threshold', 'schedule'] })
  type!: string;

  @ApiPropertyOptional({ type: 'integer', description: 'threshold: top up when the available quota is below this' })
  below?: number;

  @ApiPropertyOptional({ example: '0 9 1 * *', description: 'schedule: 5-field cron expression' })
  cron?: string;

  @ApiPropertyOptional({ example: 'Asia/Shanghai', description: 'schedule: IANA time zone' })
  timezone?: string;
}

export class RuleTopUpResponseDto {
  @ApiProperty({ enum: ['fixed', 'target'] })
  type!: string;

  @ApiProperty({ type: 'integer', description: 'minor units' })
  amount!: number;
}

export class RuleLimitsResponseDto {
  @ApiPropertyOptional({ type: 'integer' })
  maxAmountPerDay?: number;

  @ApiPropertyOptional({ type: 'integer' })
  maxAmountPerMonth?: number;

  @ApiPropertyOptional({ type: 'integer' })
  maxCountPerDay?: number;

  @ApiPropertyOptional({ type: 'integer' })
  maxCountPerMonth?: number;
}

export class RuleEvaluationDto {
  @ApiProperty(ISO_INSTANT)
  at!: string;

  @ApiProperty({ type: 'integer', nullable: true, description: 'the available quota read, minor units' })
  quota!: number | null;

  @ApiProperty({ enum: DECISIONS })
  decision!: string;

  @ApiProperty()
  reason!: string;

  @ApiProperty({ type: 'string', nullable: true, pattern: '^rch_[0-9a-f]{32}$', description: 'the top-up it created' })
  rechargeId!: string | null;
}

export class RuleDto {
  @ApiProperty({ pattern: '^rul_[0-9a-f]{32}$' })
  id!: string;

  @ApiProperty(ACCOUNT_ID_SCHEMA)
  accountId!: string;

  @ApiProperty({ enum: CURRENCIES })
  currency!: string;

  @ApiProperty({ type: () => RuleTriggerResponseDto })
  trigger!: RuleTriggerResponseDto;

  @ApiProperty({ type: () => RuleTopUpResponseDto })
  topUp!: RuleTopUpResponseDto;

  @ApiProperty({ type: () => RuleLimitsResponseDto })
  limits!: RuleLimitsResponseDto;

  @ApiProperty({ type: 'integer' })
  cooldownSeconds!: number;

  @ApiProperty({ type: 'integer', nullable: true, description: 'threshold rules only' })
  checkIntervalSeconds!: number | null;

  @ApiProperty({ type: 'string', nullable: true })
  callbackUrl!: string | null;

  @ApiProperty()
  dryRun!: boolean;

  @ApiProperty({ enum: RULE_STATUSES })
  status!: string;

  @ApiProperty({ type: 'string', nullable: true })
  disabledReason!: string | null;

  @ApiProperty({ type: 'integer' })
  consecutiveFailures!: number;

  @ApiProperty({ type: () => RuleEvaluationDto, nullable: true })
  lastEvaluation!: RuleEvaluationDto | null;

  @ApiProperty(ISO_INSTANT)
  createdAt!: string;

  @ApiProperty(ISO_INSTANT)
  updatedAt!: string;
}

export class RulePageDto {
  @ApiProperty({ type: () => [RuleDto], description: 'newest first' })
  data!: RuleDto[];

  @ApiProperty({ type: 'string', nullable: true })
  nextCursor!: string | null;
}

export class RuleEvaluationPageDto {
  @ApiProperty({ type: () => [RuleEvaluationDto], description: 'newest first' })
  data!: RuleEvaluationDto[];

  @ApiProperty({ type: 'string', nullable: true })
  nextCursor!: string | null;
}
