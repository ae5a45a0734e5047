import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { OperatorRepository } from '../application/operator.repository';
import { Operator, OperatorRole } from '../domain/operator';

interface OperatorRow {
  id: string;
  name: string;
  role: OperatorRole;
  token_hash: string;
  token_prefix: string;
  created_at: Date | string;
  revoked_at: Date | string | null;
}

const COLUMNS = 'id, name, role, token_hash, token_prefix, created_at, revoked_at';

const fromRow = (r: OperatorRow): Operator =>
  Object.assign(new Operator(), {
    id: r.id,
    name: r.name,
    role: r.role,
    tokenHash: r.token_hash,
    tokenPrefix: r.token_prefix,
    createdAt: new Date(r.created_at),
    revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
  });

/** Operators in plain SQL on MikroORM's connection (a handful of rows, read once a second at most). */
@Injectable()
export class PgOperatorRepository extends OperatorRepository {
  constructor(private readonly em: EntityManager) {
    super();
  }

  private query(sql: string, params: unknown[] = []): Promise<OperatorRow[]> {
    return this.em.getConnection().execute(sql, params);
  }

  async save(o: Operator): Promise<void> {
    await this.query(
      `INSERT INTO operators (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, revoked_at = EXCLUDED.revoked_at`,
      [o.id, o.name, o.role, o.tokenHash, o.tokenPrefix, o.createdAt, o.revokedAt],
    );
  }

  async findById(id: string): Promise<Operator | null> {
    const [row] = await this.query(`SELECT ${COLUMNS} FROM operators WHERE id = ?`, [id]);
    return row ? fromRow(row) : null;
  }

  async findByTokenHash(hash: string): Promise<Operator | null> {
    const [row] = await this.query(`SELECT ${COLUMNS} FROM operators WHERE token_hash = ?`, [hash]);
    return row ? fromRow(row) : null;
  }

  async list(): Promise<Operator[]> {
    return (await this.query(`SELECT ${COLUMNS} FROM operators ORDER BY created_at, id`)).map(fromRow);
  }
}
