import { ACCOUNT_ID_PATTERN, ACCOUNT_ID_RULE } from '../../../libs/shared/account-id';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsPositive,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { DomainError, FieldError } from '../../../libs/shared/domain-error';
import { CURRENCIES, Currency } from '../../recharge/domain/money';
import { RULE_STATUSES, RuleDraft, RuleStatus } from '../../rules/domain/rule';
import type { RulePatch } from '../../rules/application/manage-rules.use-case';
import { AccountIdFilter } from './property-rules';
import { PageQuery } from './recharge.dto';
import { PRINTABLE } from './validation';

const MINOR = 'a positive integer number of minor units';

export class TriggerDto {
  @ApiProperty({ enum: ['threshold', 'schedule'] })
  @IsIn(['threshold', 'schedule'], { message: 'trigger.type must be threshold or schedule' })
  type!: 'threshold' | 'schedule';

  @ApiPropertyOptional({ example: 50000, description: 'threshold: top up when the available quota is below this' })
  @IsOptional()
  @IsInt({ message: `below must be ${MINOR}` })
  @IsPositive({ message: `below must be ${MINOR}` })
  @Max(Number.MAX_SAFE_INTEGER)
  below?: number;

  @ApiPropertyOptional({ example: '0 9 1 * *', description: 'schedule: 5-field cron expression' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  @Matches(PRINTABLE, { message: 'cron must not contain control characters' })
  cron?: string;

  @ApiPropertyOptional({ example: 'Asia/Shanghai', description: 'schedule: IANA time zone (default UTC)' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  timezone?: string;
}

export class TopUpDto {
  @ApiProperty({ enum: ['fixed', 'target'], description: 'target: top up to this quota (threshold rules only)' })
  @IsIn(['fixed', 'target'], { message: 'topUp.type must be fixed or target' })
  type!: 'fixed' | 'target';

  @ApiProperty({ example: 200000 })
  @IsInt({ message: `amount must be ${MINOR}` })
  @IsPositive({ message: `amount must be ${MINOR}` })
  @Max(Number.MAX_SAFE_INTEGER)
  amount!: number;
}

export class LimitsDto {
  @ApiPropertyOptional({ example: 500000 })
  @IsOptional()
  @IsInt()
  @IsPositive()
  @Max(Number.MAX_SAFE_INTEGER)
  maxAmountPerDay?: number;

  @ApiPropertyOptional({ example: 2000000 })
  @IsOptional()
  @IsInt()
  @IsPositive()
  @Max(Number.MAX_SAFE_INTEGER)
  maxAmountPerMonth?: number;

  @ApiPropertyOptional({ example: 5 })
  @IsOptional()
  @IsInt()
  @IsPositive()
  @Max(1_000_000)
  maxCountPerDay?: number;

  @ApiPropertyOptional({ example: 50 })
  @IsOptional()
  @IsInt()
  @IsPositive()
  @Max(1_000_000)
  maxCountPerMonth?: number;
}

/** The fields a rule body may have; every one optional so PATCH can reuse them. */
export class RuleFieldsDto {
  @ApiPropertyOptional({ example: '1234567890123456' })
  @IsOptional()
  @IsString()
  @Matches(ACCOUNT_ID_PATTERN, { message: `accountId must be ${ACCOUNT_ID_RULE}` })
  accountId?: string;

  @ApiPropertyOptional({ enum: CURRENCIES, example: 'CNY' })
  @IsOptional()
  @IsIn(CURRENCIES as unknown as string[], { message: `currency must be one of ${CURRENCIES.join(', ')}` })
  currency?: string;

  @ApiPropertyOptional({ type: TriggerDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => TriggerDto)
  trigger?: TriggerDto;

  @ApiPropertyOptional({ type: TopUpDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => TopUpDto)
  topUp?: TopUpDto;

  @ApiPropertyOptional({ type: LimitsDto, description: 'day and month in the rule’s time zone (schedule’s, else UTC)' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => LimitsDto)
  limits?: LimitsDto;

  @ApiPropertyOptional({ minimum: 60, default: 600 })
  @IsOptional()
  @IsInt()
  @Min(60)
  cooldownSeconds?: number;

  @ApiPropertyOptional({ minimum: 60, default: 300, description: 'threshold rules only' })
  @IsOptional()
  @IsInt()
  @Min(60)
  checkIntervalSeconds?: number;

  @ApiPropertyOptional({ example: 'https://hooks.example.com/rules', nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsUrl(
    { protocols: ['http', 'https'], require_protocol: true, require_tld: false },
    { message: 'callbackUrl must be an http or https URL' },
  )
  callbackUrl?: string | null;

  @ApiPropertyOptional({ default: false, description: 'record decisions, create no recharge' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;
}

export class CreateRuleDto extends RuleFieldsDto {}

export class UpdateRuleDto extends RuleFieldsDto {
  @ApiPropertyOptional({ enum: ['active', 'paused'] })
  @IsOptional()
  @IsIn(['active', 'paused'], { message: 'status must be active or paused' })
  status?: 'active' | 'paused';
}

export class ListRulesQuery extends PageQuery {
  @AccountIdFilter()
  accountId?: string;

  @ApiPropertyOptional({ enum: RULE_STATUSES })
  @IsOptional()
  @IsIn(RULE_STATUSES as unknown as string[], { message: `status must be one of ${RULE_STATUSES.join(', ')}` })
  status?: RuleStatus;
}

/** The evaluations history pages like every other list. */
export class EvaluationsQuery extends PageQuery {}

function invalid(errors: FieldError[]): never {
  throw new DomainError('INVALID_ARGUMENT', 'the rule is invalid', errors);
}

function trigger(t: TriggerDto): RuleDraft['trigger'] {
  if (t.type === 'threshold') {
    const errors: FieldError[] = [];
    if (t.below === undefined) errors.push({ field: 'trigger.below', message: 'required for a threshold trigger' });
    for (const f of ['cron', 'timezone'] as const) {
      if (t[f] !== undefined) errors.push({ field: `trigger.${f}`, message: 'only schedule triggers have it' });
    }
    if (errors.length) invalid(errors);
    return { type: 'threshold', below: BigInt(t.below!) };
  }
  if (t.cron === undefined) invalid([{ field: 'trigger.cron', message: 'required for a schedule trigger' }]);
  if (t.below !== undefined) invalid([{ field: 'trigger.below', message: 'only threshold triggers have it' }]);
  return { type: 'schedule', cron: t.cron, timezone: t.timezone ?? 'UTC' };
}

function limits(l: LimitsDto): NonNullable<RuleDraft['limits']> {
  const big = (v: number | undefined) => (v === undefined ? null : BigInt(v));
  return {
    maxAmountPerDay: big(l.maxAmountPerDay),
    maxAmountPerMonth: big(l.maxAmountPerMonth),
    maxCountPerDay: l.maxCountPerDay ?? null,
    maxCountPerMonth: l.maxCountPerMonth ?? null,
  };
}

/** The body of POST /v1/rules as the domain takes it (required fields checked here). */
export function toRuleDraft(dto: CreateRuleDto): RuleDraft {
  const missing = (['accountId', 'currency', 'trigger', 'topUp'] as const).filter((f) => dto[f] === undefined);
  if (missing.length) invalid(missing.map((field) => ({ field, message: 'required' })));
  return {
    accountId: dto.accountId!,
    currency: dto.currency as Currency,
    callbackUrl: null,
    ...toRulePatch(dto),
  } as RuleDraft;
}

/** The fields a PATCH names, converted; the ones it leaves out stay as they are. */
export function toRulePatch(dto: UpdateRuleDto): RulePatch {
  // @IsOptional lets null through; only callbackUrl may be cleared that way.
  const nulls = Object.entries(dto).filter(([field, value]) => value === null && field !== 'callbackUrl');
  if (nulls.length) invalid(nulls.map(([field]) => ({ field, message: 'must not be null' })));
  const patch: RulePatch = {};
  if (dto.accountId !== undefined) patch.accountId = dto.accountId;
  if (dto.currency !== undefined) patch.currency = dto.currency as Currency;
  if (dto.trigger !== undefined) patch.trigger = trigger(dto.trigger);
  if (dto.topUp !== undefined) patch.topUp = { type: dto.topUp.type, amount: BigInt(dto.topUp.amount) };
  if (dto.limits !== undefined) patch.limits = limits(dto.limits);
  if (dto.cooldownSeconds !== undefined) patch.cooldownSeconds = dto.cooldownSeconds;
  if (dto.checkIntervalSeconds !== undefined) patch.checkIntervalSeconds = dto.checkIntervalSeconds;
  if (dto.callbackUrl !== undefined) patch.callbackUrl = dto.callbackUrl;
  if (dto.dryRun !== undefined) patch.dryRun = dto.dryRun;
  if (dto.status !== undefined) patch.status = dto.status;
  return patch;
}
