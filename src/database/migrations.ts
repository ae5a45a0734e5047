import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { createOrmConfig } from '../../config/mikro-orm.config';
import { MIGRATIONS } from '../../migrations';

/** Any constant shared by every replica; it names the advisory lock that serialises migrations. */
const MIGRATION_LOCK_KEY = 727_001;
const MIN_SERVER_VERSION = 150000;

/**
 * Applies pending migrations while holding a session-level PostgreSQL advisory lock, so replicas
 * starting together queue up instead of racing; the second one finds nothing left to do.
 */
export async function runMigrations(
  databaseUrl: string,
  log: (msg: string) => void = () => undefined,
): Promise<string[]> {
  const lock = new Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    const { rows } = await lock.query<{ server_version_num: string }>('SHOW server_version_num');
    if (Number(rows[0].server_version_num) < MIN_SERVER_VERSION) {
      throw new Error(`PostgreSQL ${rows[0].server_version_num} is too old: the service needs PostgreSQL 15 or newer`);
    }
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const orm = await MikroORM.init(createOrmConfig(databaseUrl, 2));
    try {
      const applied = await orm.getMigrator().up();
      for (const m of applied) log(`applied migration ${m.name}`);
      return applied.map((m) => m.name);
    } finally {
      await orm.close();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.end();
  }
}

/** True when every migration the code knows about is recorded as applied (readiness). */
export async function pendingMigrationCount(
  execute: (sql: string) => Promise<Array<{ name: string }>>,
): Promise<number> {
  const rows = await execute('SELECT name FROM mikro_orm_migrations');
  const applied = new Set(rows.map((r) => r.name.replace(/\.(t|j)s$/, '')));
  return MIGRATIONS.filter((m) => !applied.has(m.name)).length;
}
