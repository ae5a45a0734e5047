import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { createOrmConfig } from '../../../config/mikro-orm.config';
import { EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../../libs/embedded-postgres/embedded-postgres';
import { normalizeDatabaseUrl } from '../../../src/database/connection-string';
import { runMigrations } from '../../../src/database/migrations';
import { query, withDatabase } from '../../support/database';
import { freePort } from '../../support/node-process';

/**
 * DATABASE_URL in libpq's unix-socket and keyword/value forms, against a real PostgreSQL that
 * listens on a socket (and on 127.0.0.1, so a reader that silently fell back to TCP would still
 * connect: each check asks the server which way the session came in).
 */

const dataDir = resolve(__dirname, '../../..', '.test-data', `socket-${process.pid}`);
let socketDir: string;
let pg: EmbeddedPostgresHandle;
let port: number;
let password: string;

beforeAll(async () => {
  // Short: a socket path is limited to ~107 bytes.
  socketDir = mkdtempSync(join(tmpdir(), 'pgs-'));
  port = await freePort();
  pg = await startEmbeddedPostgres({ dataDir, port, unixSocketDirectory: socketDir, stopOnSignals: false });
  password = readFileSync(join(dataDir, 'postgres-password'), 'utf8').trim();
}, 60_000);

afterAll(async () => {
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(socketDir, { recursive: true, force: true });
});

/** NULL server address: the session came over the unix socket. */
const overSocket = async (url: string) =>
  (await query<{ addr: string | null }>(url, 'SELECT inet_server_addr() AS addr'))[0].addr === null;

it('the URL form with an empty host and ?host=<socket folder> connects over the socket', async () => {
  const url = normalizeDatabaseUrl(
    `postgresql://postgres:${encodeURIComponent(password)}@/recharge?host=${socketDir}&port=${port}`,
  );
  expect(await overSocket(url)).toBe(true);
  // The TCP form reaches the same server the other way: the check tells them apart.
  expect(await overSocket(pg.url)).toBe(false);
});

it('the form with no authority at all (postgresql:///db?host=…&user=…) connects over the socket', async () => {
  const url = normalizeDatabaseUrl(
    `postgresql:///recharge?host=${socketDir}&port=${port}&user=postgres&password=${encodeURIComponent(password)}`,
  );
  expect(await overSocket(url)).toBe(true);
});

it('keyword/value pairs connect over the socket', async () => {
  const url = normalizeDatabaseUrl(
    `host=${socketDir} port=${port} dbname=recharge user=postgres password='${password}'`,
  );
  expect(await overSocket(url)).toBe(true);
});

it('migrations and the ORM use the socket too, and the test support keeps it when it swaps the database', async () => {
  const url = normalizeDatabaseUrl(
    `postgresql://postgres:${encodeURIComponent(password)}@/recharge?host=${socketDir}&port=${port}`,
  );
  await query(url, 'DROP DATABASE IF EXISTS socket_migrated');
  await query(url, 'CREATE DATABASE socket_migrated');
  const migrated = withDatabase(url, 'socket_migrated');
  expect(await overSocket(migrated)).toBe(true);

  const applied = await runMigrations(migrated);
  expect(applied.length).toBeGreaterThan(0);
  expect(await query(migrated, "SELECT to_regclass('public.recharges') IS NOT NULL AS present")).toEqual([
    { present: true },
  ]);

  const orm = await MikroORM.init(createOrmConfig(migrated, 1));
  try {
    const rows = await orm.em.getConnection().execute('SELECT inet_server_addr() AS addr, current_database() AS db');
    expect(rows).toEqual([{ addr: null, db: 'socket_migrated' }]);
  } finally {
    await orm.close();
  }
});
