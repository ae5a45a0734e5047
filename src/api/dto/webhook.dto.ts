import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/* The provider notification as the OpenAPI document shows it; src/webhooks validates the real one. */

export class ProviderNotificationDataDoc {
  @ApiProperty({ example: 'rch_0190b3a1c2d37f0e8a9b0c1d2e3f4a5b', description: 'our recharge id' })
  OutBizId!: string;

  @ApiProperty({ pattern: '^\\d{1,20}$', example: '1234567890123456', description: 'the account UID' })
  OwnerId!: string;

  @ApiProperty({ example: '49.99', description: 'major units as a decimal string; compared by value' })
  Amount!: string;

  @ApiProperty({ example: 'CNY' })
  Currency!: string;

  @ApiProperty({ enum: ['SUCCEEDED', 'FAILED', 'CANCELED'], description: 'must agree with the event type' })
  Status!: string;

  @ApiPropertyOptional({ type: 'string', nullable: true, example: '2026112500001' })
  TransactionNumber?: string | null;

  @ApiPropertyOptional({
    type: 'string',
    nullable: true,
    description: 'on Failed: a code retryable at the provider makes it not final (the recharge is re-driven)',
  })
  FailureCode?: string | null;
}

export class ProviderNotificationDoc {
  @ApiProperty({ enum: ['1.0'] })
  specversion!: string;

  @ApiProperty({ example: 'evt_01J…' })
  id!: string;

  @ApiProperty({ example: 'acs:bss' })
  source!: string;

  @ApiProperty({ enum: ['bss:Recharge:Succeeded', 'bss:Recharge:Failed', 'bss:Recharge:Canceled'] })
  type!: string;

  @ApiPropertyOptional({ format: 'date-time' })
  time?: string;

  @ApiPropertyOptional({ example: 'rch_0190b3a1c2d37f0e8a9b0c1d2e3f4a5b' })
  subject?: string;

  @ApiPropertyOptional({ example: 'application/json' })
  datacontenttype?: string;

  @ApiProperty({ type: () => ProviderNotificationDataDoc })
  data!: ProviderNotificationDataDoc;
}

export class WebhookReceivedDto {
  @ApiProperty({ enum: [true] })
  received!: boolean;

  @ApiProperty({
    example: 'applied',
    description:
      'what the notification did: applied, duplicate (same webhook-id seen before), ignored (no effect on a ' +
      'final recharge), orphan (no such recharge yet; matched later by reconciliation), discrepancy (kept for ' +
      'an operator, nothing applied)',
  })
  result!: string;
}
