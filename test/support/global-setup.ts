import { rmSync } from 'node:fs';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../../libs/embedded-postgres/embedded-postgres';
import { normalizeDatabaseUrl } from '../../src/database/connection-string';
import { runMigrations } from '../../src/database/migrations';
import { TEMPLATE_DB, withDatabase } from './database';
import { freePort } from './node-process';

/**
 * One real PostgreSQL for the whole run: TEST_DATABASE_URL when given (any server ≥ 15), else the
 * embedded binaries on a free port in a folder of this run's own (runs may overlap on a developer
 * machine). A migrated template database is built once; every test file clones it.
 */
export default async function globalSetup(): Promise<void> {
  let adminUrl = process.env.TEST_DATABASE_URL && normalizeDatabaseUrl(process.env.TEST_DATABASE_URL);
  if (!adminUrl) {
    const dataDir = `.test-data/run-${process.pid}`;
    rmSync(dataDir, { recursive: true, force: true });
    const pg = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'postgres' });
    (globalThis as Record<string, unknown>).__EMBEDDED_PG__ = { ...pg, dataDir };
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
