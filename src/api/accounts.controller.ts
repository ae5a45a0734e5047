import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ACCOUNT_ID_RULE, isAccountId } from '../../libs/shared/account-id';
import { DomainError } from '../../libs/shared/domain-error';
import { ID_PATTERN } from '../../libs/shared/ids';
import { Client } from '../clients/domain/client';
import { AccountLedgerUseCase } from '../recharge/application/account-ledger.use-case';
import { AuthGuard, CurrentClient } from './auth.guard';
import { decodeCursor, encodeCursor } from './cursor';
import { AccountBalancesDto, LedgerPageDto } from './dto/account.response';
import { PageQuery } from './dto/recharge.dto';
import { ACCOUNT_ID_SCHEMA } from './dto/recharge.response';
import { ApiProblems, CLIENT_AUTH } from './openapi';

@ApiTags('accounts')
@ApiBearerAuth(CLIENT_AUTH)
@ApiParam({ name: 'accountId', schema: ACCOUNT_ID_SCHEMA })
@ApiProblems(400, 401, 403, 429)
@UseGuards(AuthGuard)
@Controller('v1/accounts/:accountId')
export class AccountsController {
  constructor(private readonly ledger: AccountLedgerUseCase) {}

  @Get('balance')
  @ApiOperation({ summary: "The account's ledger balance per currency, in minor units" })
  @ApiResponse({ status: 200, type: AccountBalancesDto })
  async balance(@CurrentClient() client: Client, @Param('accountId') accountId: string) {
    const balances = await this.ledger.balances(client, checkAccountId(accountId));
    return { accountId, balances: balances.map((b) => ({ currency: b.currency, amount: Number(b.amount) })) };
  }

  @Get('ledger')
  @ApiOperation({ summary: "The account's ledger entries, newest first" })
  @ApiResponse({ status: 200, type: LedgerPageDto })
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
