import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsPositive, IsString, IsUrl, Matches, Max, MaxLength, Min } from 'class-validator';
import { ACCOUNT_ID_PATTERN, ACCOUNT_ID_RULE } from '../../../libs/shared/account-id';
import { CURRENCIES } from '../../recharge/domain/money';
import { STATUSES, RechargeStatus } from '../../recharge/domain/recharge-state';
import { AccountIdFilter } from './property-rules';
import { IsStringMap, PRINTABLE } from './validation';

export const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;

export class CreateRechargeDto {
  @ApiProperty({
    example: '1234567890123456',
    pattern: ACCOUNT_ID_PATTERN.source,
    description: `Alibaba Cloud account UID: ${ACCOUNT_ID_RULE}, kept a string`,
  })
  @IsString()
  @Matches(ACCOUNT_ID_PATTERN, { message: `accountId must be ${ACCOUNT_ID_RULE}` })
  accountId!: string;

  @ApiProperty({ example: 4999, description: 'positive integer in the currency minor unit (CNY/USD cents, JPY yen)' })
  @IsInt({ message: 'amount must be an integer number of minor units' })
  @IsPositive({ message: 'amount must be positive' })
  amount!: number;

  @ApiProperty({ enum: CURRENCIES, example: 'CNY' })
  @IsString()
  @IsIn(CURRENCIES as unknown as string[], { message: `currency must be one of ${CURRENCIES.join(', ')}` })
  currency!: string;

  @ApiPropertyOptional({ maxLength: 128 })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  @Matches(PRINTABLE, { message: 'orderReference must not contain control characters or unpaired surrogates' })
  orderReference?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: '≤ 20 string pairs, values ≤ 500 chars',
  })
  @IsOptional()
  @IsStringMap({ maxEntries: 20, maxKeyLength: 40, maxValueLength: 500 })
  metadata?: Record<string, string>;

  @ApiPropertyOptional({ example: 'https://billing.example.com/hooks/recharge' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsUrl(
    { protocols: ['http', 'https'], require_protocol: true, require_tld: false },
    { message: 'callbackUrl must be an http or https URL' },
  )
  callbackUrl?: string;

  @ApiPropertyOptional({ description: 'alternative to the Idempotency-Key header' })
  @IsOptional()
  @IsString()
  @Matches(IDEMPOTENCY_KEY, { message: 'idempotencyKey must be 1–255 visible ASCII characters' })
  idempotencyKey?: string;
}

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;

export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Transform(toInt)
  @IsInt({ message: 'limit must be an integer' })
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,200}$/, { message: 'cursor is not valid' })
  cursor?: string;
}

export class ListRechargesQuery extends PageQuery {
  @AccountIdFilter({ pattern: ACCOUNT_ID_PATTERN.source, description: ACCOUNT_ID_RULE })
  accountId?: string;

  @ApiPropertyOptional({ enum: STATUSES })
  @IsOptional()
  @IsIn(STATUSES as unknown as string[], { message: `status must be one of ${STATUSES.join(', ')}` })
  status?: RechargeStatus;
}
