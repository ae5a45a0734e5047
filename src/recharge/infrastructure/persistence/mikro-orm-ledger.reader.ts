import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { customerLedgerAccount } from '../../domain/ledger';
import { Balance, LedgerLine, LedgerReader } from '../../application/ports/ledger.reader';
import { Page } from '../../application/ports/page';
import { BalanceRecord, LedgerEntryRecord } from './recharge.schema';

@Injectable()
export class MikroOrmLedgerReader extends LedgerReader {
  constructor(private readonly em: EntityManager) {
    super();
  }

  async balances(accountId: string): Promise<Balance[]> {
    const rows = await this.em
      .fork()
      .find<BalanceRecord>(
        'BalanceRecord',
        { ledgerAccount: customerLedgerAccount(accountId) },
        { orderBy: { currency: 'asc' } },
      );
    return rows.map((r) => ({ currency: r.currency, amount: r.amount }));
  }

  async entries(accountId: string, limit: number, after?: string): Promise<Page<LedgerLine>> {
    const where: Record<string, unknown> = { accountId };
    if (after) where.id = { $lt: after };
    const rows = await this.em
      .fork()
      .find<LedgerEntryRecord>('LedgerEntryRecord', where, { orderBy: { id: 'desc' }, limit: limit + 1 });
    const data = rows.slice(0, limit).map((r) => ({
      id: r.id,
      rechargeId: r.rechargeId,
      amount: r.amount,
      currency: r.currency,
      direction: r.direction,
      at: r.at,
    }));
    return { data, nextCursor: rows.length > limit ? data[data.length - 1].id : null };
  }
}
