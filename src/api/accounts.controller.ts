import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ACCOUNT_ID_RULE, isAccountId } from '../../libs/shared/account-id';
import { DomainError } from '../../libs/shared/domain-error';
import { ID_PATTERN } from '../../libs/shared/ids';
import { Client } from '../clients/domain/client';
import { AccountLedgerUseCase } from '../recharge/application/account-ledger.use-case';
import { AuthGuard, CurrentClient } from './auth.guard';
import { decodeCursor, encodeCursor } from './cursor';
import { PageQuery } from './dto/recharge.dto';

@ApiTags('accounts')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/accounts/:accountId')
export class AccountsController {
  constructor(private readonly ledger: AccountLedgerUseCase) {}

  @Get('balance')
  async balance(@CurrentClient() client: Client, @Param('accountId') accountId: string) {
    const balances = await this.ledger.balances(client, checkAccountId(accountId));
    return { accountId, balances: balances.map((b) => ({ currency: b.currency, amount: Number(b.amount) })) };
  }

  @Get('ledger')
  async entries(@CurrentClient() client: Client, @Param('accountId') accountId: string, @Query() q: PageQuery) {
    const page = await this.ledger.entries(
      client,
      checkAccountId(accountId),
      q.limit ?? 20,
      decodeCursor(q.cursor, ID_PATTERN('led')),
    );
    return {
      data: page.data.map((e) => ({ ...e, amount: Number(e.amount), at: e.at.toISOString() })),
      nextCursor: encodeCursor(page.nextCursor),
    };
  }
}

function checkAccountId(accountId: string): string {
  if (!isAccountId(accountId)) {
    throw new DomainError('INVALID_ARGUMENT', `accountId must be ${ACCOUNT_ID_RULE}`, [
      { field: 'accountId', message: `must be ${ACCOUNT_ID_RULE}` },
    ]);
  }
  return accountId;
}
