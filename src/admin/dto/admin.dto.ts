import { ACCOUNT_ID_PATTERN } from '../../../libs/shared/account-id';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { ALL_STATES, RechargeState, RechargeStatus, STATUSES } from '../../recharge/domain/recharge-state';
import { PageQuery } from '../../api/dto/recharge.dto';
import { AccountIdFilter, OptionalMatching, stacked } from '../../api/dto/property-rules';
import { PRINTABLE } from '../../api/dto/validation';

/** The one account-id rule (no leading zeros: `0123` would be a second ledger for account 123). */
export const ACCOUNT_ID = ACCOUNT_ID_PATTERN;
const CLIENT_ID = /^cli_[A-Za-z0-9_]{1,64}$/;
export const MIN_REASON_LENGTH = 10;

const ClientIdFilter = () => OptionalMatching(CLIENT_ID, 'clientId must be a client id (cli_…)');

/** What a reason must be, wherever an operator gives one. */
const ReasonRules = () =>
  stacked(
    IsString({ message: 'reason must be a string' }),
    MinLength(MIN_REASON_LENGTH, { message: `reason must be at least ${MIN_REASON_LENGTH} characters` }),
    MaxLength(2000),
    Matches(PRINTABLE, { message: 'reason must not contain control characters' }),
  );

export class SearchRechargesQuery extends PageQuery {
  @ApiPropertyOptional({ enum: ALL_STATES })
  @IsOptional()
  @IsIn(ALL_STATES, { message: `state must be one of ${ALL_STATES.join(', ')}` })
  state?: RechargeState;

  @ApiPropertyOptional({ enum: STATUSES })
  @IsOptional()
  @IsIn(STATUSES as unknown as string[], { message: `status must be one of ${STATUSES.join(', ')}` })
  status?: RechargeStatus;

  @ClientIdFilter()
  clientId?: string;

  @AccountIdFilter()
  accountId?: string;

  @ApiPropertyOptional({ description: 'ISO 8601, inclusive' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'createdFrom must be an ISO 8601 date-time' })
  createdFrom?: string;

  @ApiPropertyOptional({ description: 'ISO 8601, exclusive' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'createdTo must be an ISO 8601 date-time' })
  createdTo?: string;

  @ApiPropertyOptional({ description: 'a recharge id, an idempotency key or an order reference (exact)' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @Matches(PRINTABLE, { message: 'q must not contain control characters' })
  q?: string;
}

export class DiscrepanciesQuery extends PageQuery {
  @ApiPropertyOptional({ enum: ['open', 'acknowledged'], default: 'open' })
  @IsOptional()
  @IsIn(['open', 'acknowledged'], { message: 'status must be open or acknowledged' })
  status?: 'open' | 'acknowledged';
}

export class OperatorRulesQuery extends PageQuery {
  @ApiPropertyOptional({ enum: ['active', 'paused', 'disabled'] })
  @IsOptional()
  @IsIn(['active', 'paused', 'disabled'], { message: 'status must be one of active, paused, disabled' })
  status?: 'active' | 'paused' | 'disabled';

  @ClientIdFilter()
  clientId?: string;

  @AccountIdFilter()
  accountId?: string;
}

export class LedgerCsvQuery {
  @ApiPropertyOptional({ description: 'ISO 8601, inclusive; default 24 h before `to`' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date-time' })
  from?: string;

  @ApiPropertyOptional({ description: 'ISO 8601, exclusive; default now' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date-time' })
  to?: string;

  @AccountIdFilter()
  accountId?: string;
}

/** Why the operator acts: kept in the audit trail and on the recharge's timeline. */
class ReasonBody {
  @ApiProperty({ minLength: MIN_REASON_LENGTH, maxLength: 2000 })
  @ReasonRules()
  reason!: string;
}

export class ResolveDto extends ReasonBody {
  @ApiProperty({ enum: ['succeeded', 'not_applied'] })
  @IsIn(['succeeded', 'not_applied'], { message: 'outcome must be succeeded or not_applied' })
  outcome!: 'succeeded' | 'not_applied';

  @ApiPropertyOptional({ description: "the provider's transaction number, when the operator found one" })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @Matches(PRINTABLE, { message: 'providerReference must not contain control characters' })
  providerReference?: string;
}

/** Pausing or resuming a rule: the reason is required, as for a resolution. */
export class RuleActionDto extends ReasonBody {}

/** Re-drive and redeliver: the API takes no body, so the reason is optional there (the console always sends one). */
export class ActionDto {
  @ApiPropertyOptional({ minLength: MIN_REASON_LENGTH, maxLength: 2000 })
  @IsOptional()
  @ReasonRules()
  reason?: string;
}

export class AcknowledgeDto {
  @ApiProperty({ minLength: 1, maxLength: 2000 })
  @IsString({ message: 'note must be a string' })
  @Matches(/\S/, { message: 'note must not be blank' })
  @MaxLength(2000)
  @Matches(PRINTABLE, { message: 'note must not contain control characters' })
  note!: string;
}
