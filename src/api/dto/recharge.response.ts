import { ApiProperty } from '@nestjs/swagger';
import { CURRENCIES } from '../../recharge/domain/money';
import { ALL_STATES, STATUSES } from '../../recharge/domain/recharge-state';

/*
 * Response shapes for the OpenAPI document only: the controllers return plain objects built by
 * the presenters, and the e2e suite checks every real answer against these classes, so a field
 * added to a presenter without being described here fails a test.
 */

const ISO_INSTANT = { type: 'string', format: 'date-time', example: '2026-11-25T12:00:00.000Z' } as const;

export const ACCOUNT_ID_SCHEMA = {
  type: 'string',
  pattern: '^\\d{1,20}$',
  example: '1234567890123456',
  description: 'Alibaba Cloud account UID, a decimal string of 1–20 digits (kept a string: 16-digit UIDs exceed 2^53)',
} as const;

export class RechargeFailureDto {
  @ApiProperty({
    enum: ['PROVIDER_REJECTED', 'TIMEOUT', 'NOT_APPLIED', 'CANCELED'],
    description:
      'PROVIDER_REJECTED: Alibaba Cloud refused it, nothing was applied. TIMEOUT: no confirmation within the ' +
      'confirmation window, the outcome is still unknown and money may have moved; do not request this money ' +
      'again under a new key until an operator has resolved it. NOT_APPLIED: an operator confirmed at the ' +
      'provider that nothing was applied. CANCELED: the provider reports it canceled.',
  })
  code!: string;

  @ApiProperty({ example: 'the provider rejected the recharge' })
  message!: string;

  @ApiProperty({ type: 'string', nullable: true, example: 'NotAuthorized', description: "Alibaba Cloud's error code" })
  providerCode!: string | null;
}

export class RechargeDto {
  @ApiProperty({ pattern: '^rch_[0-9a-f]{32}$', example: 'rch_0190b3a1c2d37f0e8a9b0c1d2e3f4a5b' })
  id!: string;

  @ApiProperty({ enum: STATUSES, description: 'the public status of the state' })
  status!: string;

  @ApiProperty({ enum: ALL_STATES, description: 'the state in the state machine' })
  state!: string;

  @ApiProperty(ACCOUNT_ID_SCHEMA)
  accountId!: string;

  @ApiProperty({ type: 'integer', minimum: 1, example: 4999, description: 'minor units (CNY/USD cents, JPY yen)' })
  amount!: number;

  @ApiProperty({ enum: CURRENCIES, example: 'CNY' })
  currency!: string;

  @ApiProperty({ type: 'string', nullable: true, example: 'order-42' })
  orderReference!: string | null;

  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, example: { ticket: 'T-1' } })
  metadata!: Record<string, string>;

  @ApiProperty({ type: 'string', nullable: true, example: 'https://hooks.example.com/recharges' })
  callbackUrl!: string | null;

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: "the provider's transaction number, once known",
    example: '2026112500001',
  })
  providerReference!: string | null;

  @ApiProperty({ type: 'string', nullable: true, description: 'a human-readable note on the latest transition' })
  message!: string | null;

  @ApiProperty({ type: () => RechargeFailureDto, nullable: true })
  failure!: RechargeFailureDto | null;

  @ApiProperty(ISO_INSTANT)
  createdAt!: string;

  @ApiProperty(ISO_INSTANT)
  updatedAt!: string;

  @ApiProperty({ ...ISO_INSTANT, nullable: true, description: 'when it reached a final state' })
  completedAt!: string | null;
}

export class RechargePageDto {
  @ApiProperty({ type: () => [RechargeDto], description: 'newest first' })
  data!: RechargeDto[];

  @ApiProperty({
    type: 'string',
    nullable: true,
    description: 'pass as `cursor` for the next page; null on the last page',
  })
  nextCursor!: string | null;
}

export class RechargeEventDto {
  @ApiProperty({ enum: ALL_STATES, nullable: true, description: 'null for the first event (creation)' })
  from!: string | null;

  @ApiProperty({ enum: ALL_STATES })
  to!: string;

  @ApiProperty({ example: 'sent to provider' })
  reason!: string;

  @ApiProperty({ enum: ['api', 'dispatcher', 'webhook', 'reconciliation', 'operator'] })
  source!: string;

  @ApiProperty(ISO_INSTANT)
  at!: string;
}

export class RechargeEventsDto {
  @ApiProperty({ type: () => [RechargeEventDto], description: 'oldest first; the first is from null to CREATED' })
  data!: RechargeEventDto[];
}
