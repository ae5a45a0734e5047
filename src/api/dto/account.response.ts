import { ApiProperty } from '@nestjs/swagger';
import { CURRENCIES } from '../../recharge/domain/money';
import { ACCOUNT_ID_SCHEMA } from './recharge.response';

export class BalanceDto {
  @ApiProperty({ enum: CURRENCIES })
  currency!: string;

  @ApiProperty({ type: 'integer', example: 4999, description: 'ledger balance in minor units' })
  amount!: number;
}

export class AccountBalancesDto {
  @ApiProperty(ACCOUNT_ID_SCHEMA)
  accountId!: string;

  @ApiProperty({ type: () => [BalanceDto], description: 'one per currency ever credited; empty before the first' })
  balances!: BalanceDto[];
}

export class LedgerEntryDto {
  @ApiProperty({ pattern: '^led_[0-9a-f]{32}$' })
  id!: string;

  @ApiProperty({ pattern: '^rch_[0-9a-f]{32}$' })
  rechargeId!: string;

  @ApiProperty({ type: 'integer', minimum: 1, description: 'minor units' })
  amount!: number;

  @ApiProperty({ enum: CURRENCIES })
  currency!: string;

  @ApiProperty({ enum: ['credit', 'debit'], description: "credit adds to the customer's balance" })
  direction!: string;

  @ApiProperty({ type: 'string', format: 'date-time' })
  at!: string;
}

export class LedgerPageDto {
  @ApiProperty({ type: () => [LedgerEntryDto], description: 'newest first' })
  data!: LedgerEntryDto[];

  @ApiProperty({ type: 'string', nullable: true, description: 'pass as `cursor` for the next page; null on the last' })
  nextCursor!: string | null;
}
