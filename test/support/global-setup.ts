import { rmSync } from 'node:fs';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../../libs/embedded-postgres/embedded-postgres';
import { runMigrations } from '../../src/database/migrations';

export const TEMPLATE_DB = 'recharge_template';
const TEST_PG_PORT = Number(process.env.TEST_PG_PORT ?? 54330);

/**
 * One real PostgreSQL for the whole run: TEST_DATABASE_URL when given (any server ≥ 15), else the
 * embedded binaries. A migrated template database is built once; every test file clones it.
 */
export default async function globalSetup(): Promise<void> {
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    const dataDir = '.test-data';
    const reuse = await reachable(`postgres://postgres:postgres@127.0.0.1:${TEST_PG_PORT}/postgres`);
    if (!reuse) rmSync(dataDir, { recursive: true, force: true });
    const pg = await startEmbeddedPostgres({ dataDir, port: TEST_PG_PORT, database: 'postgres' });
    (globalThis as Record<string, unknown>).__EMBEDDED_PG__ = pg;
    adminUrl = pg.url;
  }
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  await runMigrations(withDatabase(adminUrl, TEMPLATE_DB));
  process.env.TEST_ADMIN_DATABASE_URL = adminUrl;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function reachable(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}
