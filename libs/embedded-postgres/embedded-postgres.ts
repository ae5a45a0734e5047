import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { EmbeddedPostgresError, oneLine } from './embedded-postgres.error';
import { DEFAULT_RUNTIME_ROOT, ensureOwnedDirectory, prepareLayout, RunAs } from './runtime-layout';

export { EmbeddedPostgresError } from './embedded-postgres.error';
export { DEFAULT_RUNTIME_ROOT } from './runtime-layout';

export interface EmbeddedPostgresOptions {
  /** DATA_DIR: the server's data directory is `<dataDir>/pg`, its password `<dataDir>/postgres-password`. */
  dataDir: string;
  port: number;
  database?: string;
  log?: (line: string) => void;
  /**
   * Tests and the bench pass nothing: SIGINT or SIGTERM stops the server, then the process dies of
   * that signal. A process with a shutdown of its own (the service: drain, finish in-flight calls,
   * then stop the database) passes false and calls `stop()` last.
   */
  stopOnSignals?: boolean;
  /** Where the server's files go when running as root and DATA_DIR is closed to `postgres` (EMBEDDED_POSTGRES_ROOT). */
  runtimeRoot?: string;
  /** Also listen on a unix socket in this folder (path length limits apply: keep it short). */
  unixSocketDirectory?: string;
}

export interface EmbeddedPostgresHandle {
  url: string;
  /** The PostgreSQL data directory actually used (differs from `<dataDir>/pg` only as root, see runtime-layout). */
  pgData: string;
  /** Stops the server only if this call started it. */
  stop(): Promise<void>;
}

const USER = 'postgres';
/** What this launcher used before passwords were random; accepted once, to replace it. */
const LEGACY_PASSWORD = 'postgres';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

/** True when a PostgreSQL server answers at `url` and accepts its credentials. */
export async function canConnect(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts (or re-attaches to) a real PostgreSQL server from the binaries the `embedded-postgres`
 * package installs. Data lives in `<dataDir>/pg` and survives restarts. The superuser's password is
 * random, made at the first start and kept in `<dataDir>/postgres-password` (mode 0600). A server
 * is reused only when it is the one serving this very data directory (a previous owner killed
 * with SIGKILL leaves it running); anything else on the port is an error, never a database to use.
 * Every failure is an EmbeddedPostgresError with a one-line message saying what to do.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  try {
    return await start(options);
  } catch (err) {
    if (err instanceof EmbeddedPostgresError) throw err;
    // Whatever was not foreseen (a file system refusing, a race with another start) is still one line.
    throw new EmbeddedPostgresError(
      `starting it failed unexpectedly (${(err as Error | undefined)?.message ?? String(err)})`,
      `read ${join(resolve(options.dataDir), 'postgresql.log')} if it exists, fix the cause and start again; if it persists, report it`,
    );
  }
}

async function start(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(options.dataDir);
  const database = options.database ?? 'recharge';
  const log = options.log ?? (() => undefined);
  ensureDataDir(dataDir);
  const layout = prepareLayout(dataDir, options.runtimeRoot ?? DEFAULT_RUNTIME_ROOT);
  const { pgData, runAs } = layout;
  const passwordFile = join(dataDir, 'postgres-password');
  const initialised = existsSync(join(pgData, 'PG_VERSION'));
  let password = readSecret(passwordFile);
  let legacy = false;
  if (!password) {
    // A data directory made before passwords were random still has the old one until it is replaced below.
    legacy = initialised;
    password = legacy ? LEGACY_PASSWORD : writeSecret(passwordFile, randomBytes(24).toString('base64url'));
  }
  const base = (pw: string) => `postgres://${USER}:${encodeURIComponent(pw)}@127.0.0.1:${options.port}`;

  const running = runningServer(pgData);
  if (running) {
    if (running.port !== options.port) {
      throw new EmbeddedPostgresError(
        `the PostgreSQL server of ${pgData} is already running (pid ${running.pid}) on port ${running.port}, not ${options.port}`,
        `set EMBEDDED_POSTGRES_PORT=${running.port}, or stop that server (kill ${running.pid}) and start again`,
      );
    }
    // A server shutting down or still recovering refuses connections for a moment: wait for it
    // to be either ours and ready, or gone.
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && alive(running.pid);) {
      if (await servesDataDir(base(password), pgData)) {
        log(`embedded PostgreSQL of ${pgData} already running on port ${options.port}; reusing it`);
        if (legacy) password = await replaceLegacyPassword(base(LEGACY_PASSWORD), passwordFile);
        await ensureDatabase(base(password), database);
        return { url: `${base(password)}/${database}`, pgData, stop: async () => undefined };
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    if (alive(running.pid)) {
      throw new EmbeddedPostgresError(
        `the PostgreSQL server of ${pgData} (pid ${running.pid}) does not accept the password in ${passwordFile}`,
        `stop that server (kill ${running.pid}) and start again; if the password file was lost, restore it or delete ${dataDir} to start afresh`,
      );
    }
  }
  if (await portTaken(options.port)) {
    throw new EmbeddedPostgresError(
      `port ${options.port} is taken by another program (not the embedded PostgreSQL of ${dataDir})`,
      'set EMBEDDED_POSTGRES_PORT to a free port, or stop that program',
    );
  }

  const logFile = join(dataDir, 'postgresql.log');
  if (options.unixSocketDirectory) ensureOwnedDirectory(options.unixSocketDirectory, runAs);
  if (!initialised) await initdb(layout.binaries.root, pgData, runAs, password, logFile);
  const server = await launch({ ...layout, port: options.port, logFile, socketDir: options.unixSocketDirectory });
  if (options.stopOnSignals !== false) stopOnSignals(server);
  try {
    if (legacy) password = await replaceLegacyPassword(base(LEGACY_PASSWORD), passwordFile);
    await ensureDatabase(base(password), database);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { url: `${base(password)}/${database}`, pgData, stop: () => server.stop() };
}

function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    if (!statSync(dataDir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
  } catch (err) {
    throw new EmbeddedPostgresError(
      `DATA_DIR ${dataDir} cannot be used (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      'set DATA_DIR to a folder you can write to',
    );
  }
}

function readSecret(file: string): string | null {
  if (!existsSync(file)) return null;
  const value = readFileSync(file, 'utf8').trim();
  return value.length > 0 ? value : null;
}

/** Written to a temporary name with mode 0600 and renamed, so a reader never sees half a secret. */
function writeSecret(file: string, value: string): string {
  const staging = `${file}.${process.pid}.tmp`;
  writeFileSync(staging, `${value}\n`, { mode: 0o600 });
  chmodSync(staging, 0o600);
  renameSync(staging, file);
  return value;
}

/** `postmaster.pid` names the server that owns this data directory, if its process is still alive. */
function runningServer(pgData: string): { pid: number; port: number } | null {
  let lines: string[];
  try {
    lines = readFileSync(join(pgData, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null;
  return { pid, port };
}

/** A pid that is gone leaves a stale postmaster.pid: the next server removes it and recovers from its WAL. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive but someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The server at `base` accepts our password and reports this data directory as its own. */
async function servesDataDir(base: string, pgData: string): Promise<boolean> {
  const client = new Client({ connectionString: `${base}/postgres`, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
    return realpathSync(rows[0].data_directory) === realpathSync(pgData);
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

async function initdb(bin: string, pgData: string, runAs: RunAs | null, password: string, logFile: string) {
  ensureOwnedDirectory(pgData, runAs);
  // initdb reads the password from a file; it must be readable by the server's user and no one else.
  const pwfile = join(pgData, '..', `.pwfile-${process.pid}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    const result = await run(
      join(bin, 'bin', 'initdb'),
      [
        `--pgdata=${pgData}`,
        '--auth=scram-sha-256',
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--no-locale',
        '--no-instructions',
      ],
      runAs,
      logFile,
    );
    if (result.code !== 0) {
      rmSync(pgData, { recursive: true, force: true });
      throw new EmbeddedPostgresError(
        `initdb could not create the database in ${pgData}: ${lastError(result.output) ?? `exit code ${result.code}`}`,
        `read ${logFile} for details, fix the cause (often disk space or permissions) and start again`,
      );
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
}

interface Server {
  stop(): Promise<void>;
}

async function launch(options: {
  binaries: { root: string };
  pgData: string;
  runAs: RunAs | null;
  port: number;
  logFile: string;
  socketDir?: string;
}): Promise<Server> {
  rotate(options.logFile);
  const logFd = openSync(options.logFile, 'a', 0o600);
  const logStart = statSync(options.logFile).size;
  // Commits wait for the WAL flush, so WAL volume is latency: under load the bench's slowest
  // requests were all waiting on IO:WalSync. wal_compression shrinks the full-page images that
  // dominate WAL after each checkpoint (p99 at 200 req/s: 23–40 ms → 12–22 ms in A/B runs), and
  // min_wal_size keeps used segments for recycling (a rename) instead of creating and
  // zero-filling new 16 MB files under the WAL write lock.
  const settings = [
    'listen_addresses=127.0.0.1',
    `unix_socket_directories=${options.socketDir ?? ''}`,
    'max_connections=200',
    'fsync=on',
    'min_wal_size=1GB',
    'max_wal_size=2GB',
    'wal_compression=on',
  ];
  // Its own process group: a Ctrl-C in the terminal reaches the service (which drains first and
  // stops the server last), not the server directly. Its output goes to a file, so it never
  // writes into a pipe whose reader is gone.
  const child = spawn(
    join(options.binaries.root, 'bin', 'postgres'),
    ['-D', options.pgData, '-p', String(options.port), ...settings.flatMap((s) => ['-c', s])],
    {
      ...(options.runAs ?? {}),
      cwd: '/',
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, LC_MESSAGES: 'C' },
    },
  );
  closeSync(logFd);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise<void>((done) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      done();
    }),
  );
  child.once('error', () => undefined);
  const killOnExit = () => {
    if (!exited) child.kill('SIGINT');
  };
  process.on('exit', killOnExit);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!exited && !ready(options.pgData, child.pid)) {
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (exited || Date.now() > deadline) {
    process.off('exit', killOnExit);
    const output = readFrom(options.logFile, logStart);
    throw new EmbeddedPostgresError(
      `PostgreSQL did not start: ${lastError(output) ?? (exited ? `it exited (${describeExit(exited)})` : `not ready after ${READY_TIMEOUT_MS / 1000} s`)}`,
      advice(output, options),
    );
  }
  return {
    stop: async () => {
      process.off('exit', killOnExit);
      if (exited) return;
      // SIGINT is PostgreSQL's fast shutdown: open sessions are ended, everything committed is kept.
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGQUIT'), STOP_TIMEOUT_MS).unref();
      await exit;
      clearTimeout(timer);
    },
  };
}

/**
 * `postmaster.pid` line 8 says "ready" once the server accepts connections; line 1 must be our
 * server's pid (a file left by a killed server says "ready" too).
 */
function ready(pgData: string, pid: number | undefined): boolean {
  try {
    const lines = readFileSync(join(pgData, 'postmaster.pid'), 'utf8').split('\n');
    return Number(lines[0]) === pid && lines[7]?.trim() === 'ready';
  } catch {
    return false;
  }
}

function stopOnSignals(server: Server): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void server.stop().finally(() => process.kill(process.pid, signal));
    });
  }
}

async function replaceLegacyPassword(legacyBase: string, passwordFile: string): Promise<string> {
  const client = new Client({ connectionString: `${legacyBase}/postgres`, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch {
    throw new EmbeddedPostgresError(
      `the data directory has no password file (${passwordFile}) and does not accept the old default password`,
      'restore that file, or delete DATA_DIR to start with an empty database',
    );
  }
  try {
    const password = randomBytes(24).toString('base64url');
    // The file first: if the ALTER fails the old password still works and the next start retries.
    writeSecret(`${passwordFile}.new`, password);
    await client.query(`ALTER ROLE ${USER} PASSWORD '${password}'`);
    renameSync(`${passwordFile}.new`, passwordFile);
    return password;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(base: string, database: string): Promise<void> {
  const client = new Client({ connectionString: `${base}/postgres` });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL started but refused a connection (${(err as Error).message})`,
      'delete DATA_DIR to start with an empty database if its password file was lost, else report this as a bug',
    );
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

function run(
  file: string,
  args: string[],
  runAs: RunAs | null,
  logFile: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    let child: ChildProcess;
    let output = '';
    try {
      child = spawn(file, args, {
        ...(runAs ?? {}),
        cwd: '/',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LC_MESSAGES: 'C' },
      });
    } catch (err) {
      return done({ code: -1, output: (err as Error).message });
    }
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (err) => done({ code: -1, output: `${output}\n${err.message}` }));
    child.once('close', (code) => {
      writeFileSync(logFile, output, { flag: 'a', mode: 0o600 });
      done({ code, output });
    });
  });
}

/** PostgreSQL's own words for why it stopped: its last FATAL/PANIC/ERROR line. */
function lastError(output: string): string | null {
  const lines = output.split('\n').filter((l) => /\b(FATAL|PANIC|ERROR|error):?\s/.test(l) || /^initdb: error/.test(l));
  const last = lines.at(-1);
  return last ? oneLine(last.replace(/^.*?\b(FATAL|PANIC|ERROR):\s*/, '')) : null;
}

function advice(output: string, options: { pgData: string; logFile: string; port: number }): string {
  if (/could not bind|Address already in use/i.test(output))
    return `set EMBEDDED_POSTGRES_PORT to a free port (${options.port} is taken), or stop the program using it`;
  if (/lock file "postmaster\.pid" already exists/.test(output))
    return `stop the other server using ${options.pgData}, or if none is running delete ${join(options.pgData, 'postmaster.pid')}`;
  if (/No space left/i.test(output)) return 'free some disk space and start again';
  if (/incompatible with server|database files are incompatible/i.test(output))
    return `this DATA_DIR was made by another PostgreSQL version: use that version, or delete ${options.pgData} to start afresh`;
  if (/Permission denied/i.test(output))
    return `give the server's user access to ${options.pgData} (it must own it, mode 700), or delete it to start afresh`;
  return `read ${options.logFile} for PostgreSQL's own account, fix the cause and start again`;
}

function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

function readFrom(file: string, offset: number): string {
  try {
    return readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

/** One previous log is kept: enough to read why the last start failed, bounded on disk. */
function rotate(file: string): void {
  try {
    if (statSync(file).size > LOG_ROTATE_BYTES) renameSync(file, `${file}.1`);
  } catch {
    // No log yet.
  }
}
