import { Injectable } from '@nestjs/common';
import { DomainError } from '../../../libs/shared/domain-error';
import { Client } from '../../clients/domain/client';
import { Balance, LedgerLine, LedgerReader } from './ports/ledger.reader';
import { Page } from './ports/page';

@Injectable()
export class AccountLedgerUseCase {
  constructor(private readonly ledger: LedgerReader) {}

  balances(client: Client, accountId: string): Promise<Balance[]> {
    this.authorize(client, accountId);
    return this.ledger.balances(accountId);
  }

  entries(client: Client, accountId: string, limit: number, after?: string): Promise<Page<LedgerLine>> {
    this.authorize(client, accountId);
    return this.ledger.entries(accountId, limit, after);
  }

  private authorize(client: Client, accountId: string): void {
    if (!client.mayAccess(accountId))
      throw new DomainError('UNAUTHORIZED', `this client may not read account ${accountId}`);
  }
}
