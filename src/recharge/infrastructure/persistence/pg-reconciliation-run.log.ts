import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { ReconciliationCounts, ReconciliationRunLog } from '../../application/ports/reconciliation-run.log';
import { redactNullable } from '../../../../libs/shared/redact';

@Injectable()
export class PgReconciliationRunLog extends ReconciliationRunLog {
  constructor(private readonly em: EntityManager) {
    super();
  }

  async start(id: string, at: Date): Promise<void> {
    await this.em
      .getConnection()
      .execute(`INSERT INTO reconciliation_runs (id, started_at, outcome) VALUES (?, ?, 'running')`, [id, at]);
  }

  async finish(
    id: string,
    at: Date,
    outcome: 'succeeded' | 'failed',
    c: ReconciliationCounts,
    error: string | null,
  ): Promise<void> {
    await this.em.getConnection().execute(
      `UPDATE reconciliation_runs SET finished_at = ?, outcome = ?, redriven = ?, expired = ?, notifications_applied = ?,
         orphans_matched = ?, orphans_open = ?, discrepancies = ?, error = ? WHERE id = ?`,
      [
        at,
        outcome,
        c.redriven,
        c.expired,
        c.notificationsApplied,
        c.orphansMatched,
        c.orphansOpen,
        c.discrepancies,
        redactNullable(error),
        id,
      ],
    );
  }
}
