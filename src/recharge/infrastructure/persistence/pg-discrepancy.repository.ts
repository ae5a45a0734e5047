import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { Statement } from '../../../database/pg-statements';
import { Discrepancy, DiscrepancyKind } from '../../domain/discrepancy';
import { DiscrepancyQuery, DiscrepancyRepository } from '../../application/ports/discrepancy.repository';
import { Page } from '../../application/ports/page';

/**
 * Discrepancies found while the recharge row is locked, in the same transaction. The partial
 * unique indexes keep one per notification and kind, or one open per recharge and kind.
 */
export const INSERT_DISCREPANCY: Statement = {
  name: 'discrepancies_insert_v1',
  text: `INSERT INTO discrepancies (id, recharge_id, kind, evidence, seen_at) VALUES ($1, $2, $3, $4::jsonb, $5)
    ON CONFLICT DO NOTHING RETURNING id`,
};

interface Row {
  id: string;
  recharge_id: string | null;
  kind: DiscrepancyKind;
  evidence: Record<string, unknown>;
  seen_at: Date | string;
  acknowledged_by: string | null;
  acknowledged_at: Date | string | null;
  acknowledgement_note: string | null;
}

const COLUMNS = 'id, recharge_id, kind, evidence, seen_at, acknowledged_by, acknowledged_at, acknowledgement_note';

// Raw queries through MikroORM's pg driver return timestamptz as a string, not a Date.
const fromRow = (r: Row): Discrepancy => ({
  id: r.id,
  rechargeId: r.recharge_id,
  kind: r.kind,
  evidence: r.evidence,
  seenAt: new Date(r.seen_at),
  acknowledgedBy: r.acknowledged_by,
  acknowledgedAt: r.acknowledged_at === null ? null : new Date(r.acknowledged_at),
  acknowledgementNote: r.acknowledgement_note,
});

/** Reads and acknowledgements; inserts happen in PgRechargeRepository.mutate, with the change that found them. */
@Injectable()
export class PgDiscrepancyRepository extends DiscrepancyRepository {
  constructor(private readonly em: EntityManager) {
    super();
  }

  async list(q: DiscrepancyQuery): Promise<Page<Discrepancy>> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (q.status === 'open') where.push('acknowledged_at IS NULL');
    if (q.status === 'acknowledged') where.push('acknowledged_at IS NOT NULL');
    const filter = (clause: string, value: unknown): void => {
      where.push(clause);
      values.push(value);
    };
    if (q.rechargeId) filter('recharge_id = ?', q.rechargeId);
    if (q.kind) filter('kind = ?', q.kind);
    if (q.after) filter('id < ?', q.after);
    const rows: Row[] = await this.em
      .getConnection()
      .execute(
        `SELECT ${COLUMNS} FROM discrepancies ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
        [...values, q.limit + 1],
      );
    const data = rows.slice(0, q.limit).map(fromRow);
    return { data, nextCursor: rows.length > q.limit ? data[data.length - 1].id : null };
  }

  async findById(id: string): Promise<Discrepancy | null> {
    const [row]: Row[] = await this.em
      .getConnection()
      .execute(`SELECT ${COLUMNS} FROM discrepancies WHERE id = ?`, [id]);
    return row ? fromRow(row) : null;
  }

  async acknowledge(id: string, by: string, note: string, at: Date): Promise<Discrepancy | null> {
    await this.em.getConnection().execute(
      `UPDATE discrepancies SET acknowledged_by = ?, acknowledged_at = ?, acknowledgement_note = ?
         WHERE id = ? AND acknowledged_at IS NULL`,
      [by, at, note, id],
    );
    return this.findById(id);
  }

  async countOpen(): Promise<number> {
    const [row]: Array<{ n: string }> = await this.em
      .getConnection()
      .execute('SELECT count(*) AS n FROM discrepancies WHERE acknowledged_at IS NULL');
    return Number(row.n);
  }
}
