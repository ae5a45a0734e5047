import { Injectable } from '@nestjs/common';
import { PgStatements, Statement } from '../../../database/pg-statements';
import { ProviderCall, ProviderCallLog } from '../../application/ports/provider-call-log';

const INSERT_CALL: Statement = {
  name: 'provider_calls_insert_v1',
  text: `INSERT INTO provider_calls (recharge_id, account_id, action, attempt, at, outcome, provider_code, http_status, duration_ms, request_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
};

const FOR_RECHARGE: Statement = {
  name: 'provider_calls_for_recharge_v1',
  text: `SELECT recharge_id, account_id, action, attempt, at, outcome, provider_code, http_status, duration_ms, request_id
    FROM provider_calls WHERE recharge_id = $1 ORDER BY id`,
};

interface Row {
  recharge_id: string | null;
  account_id: string | null;
  action: string;
  attempt: number | null;
  at: Date | string;
  outcome: string;
  provider_code: string | null;
  http_status: number | null;
  duration_ms: number;
  request_id: string | null;
}

/** One insert per provider call, a named statement like the rest of the per-call path. */
@Injectable()
export class PgProviderCallLog extends ProviderCallLog {
  constructor(private readonly sql: PgStatements) {
    super();
  }

  async record(c: ProviderCall): Promise<void> {
    await this.sql.query(INSERT_CALL, [
      c.rechargeId,
      c.accountId,
      c.action,
      c.attempt,
      c.at,
      c.outcome,
      c.providerCode,
      c.httpStatus,
      Math.max(0, Math.round(c.durationMs)),
      c.requestId,
    ]);
  }

  async forRecharge(rechargeId: string): Promise<ProviderCall[]> {
    const rows = await this.sql.query<Row>(FOR_RECHARGE, [rechargeId]);
    return rows.map((r) => ({
      rechargeId: r.recharge_id,
      accountId: r.account_id,
      action: r.action,
      attempt: r.attempt,
      at: new Date(r.at),
      outcome: r.outcome,
      providerCode: r.provider_code,
      httpStatus: r.http_status,
      durationMs: r.duration_ms,
      requestId: r.request_id,
    }));
  }
}
