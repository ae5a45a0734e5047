import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../../test/support/node-process';
import { canConnect, EmbeddedPostgresError, EmbeddedPostgresHandle, startEmbeddedPostgres } from './embedded-postgres';

/**
 * The launcher `npm start` uses when DATABASE_URL is unset, against real PostgreSQL servers: a
 * random password kept in DATA_DIR, a server reused only when it serves this very data directory,
 * and every failure told in one line (what happened; what to do), never a stack trace.
 */

// Under the system's temporary folder, not the checkout: a checkout may itself sit under a folder
// closed to others (a root home, `mktemp -d`), and these tests need a base every user can enter.
const ROOT = join(tmpdir(), `alicloud-recharge-launcher-${process.pid}`);
mkdirSync(ROOT, { recursive: true, mode: 0o755 });
chmodSync(ROOT, 0o755);
const started: EmbeddedPostgresHandle[] = [];
let n = 0;

const freshDir = () => {
  const dir = join(ROOT, `d${++n}`);
  rmSync(dir, { recursive: true, force: true });
  return dir;
};
const start = async (dataDir: string, port: number) => {
  const handle = await startEmbeddedPostgres({ dataDir, port, stopOnSignals: false });
  started.push(handle);
  return handle;
};
const password = (dataDir: string) => readFileSync(join(dataDir, 'postgres-password'), 'utf8').trim();
const urlWith = (pw: string, port: number) =>
  `postgres://postgres:${encodeURIComponent(pw)}@127.0.0.1:${port}/postgres`;

/** The failure, or a test failure if there was none. */
async function failureOf(promise: Promise<unknown>): Promise<EmbeddedPostgresError> {
  try {
    await promise;
  } catch (err) {
    return err as EmbeddedPostgresError;
  }
  throw new Error('expected the start to fail');
}

function expectOneLine(err: Error) {
  expect(err).toBeInstanceOf(EmbeddedPostgresError);
  expect(err.message).not.toContain('\n');
  // What happened; what to do.
  expect(err.message).toMatch(/^[^;]+; .+$/);
}

afterAll(async () => {
  for (const handle of started.reverse()) await handle.stop();
  rmSync(ROOT, { recursive: true, force: true });
});

it('a first start makes a random password, kept in DATA_DIR with mode 0600; postgres/postgres is refused', async () => {
  const dataDir = freshDir();
  const port = await freePort();
  const pg = await start(dataDir, port);
  const pw = password(dataDir);
  expect(pw).toMatch(/^[A-Za-z0-9_-]{32}$/);
  expect(statSync(join(dataDir, 'postgres-password')).mode & 0o777).toBe(0o600);
  expect(pg.url).toBe(`postgres://postgres:${pw}@127.0.0.1:${port}/recharge`);
  expect(await canConnect(pg.url)).toBe(true);
  expect(await canConnect(urlWith('postgres', port))).toBe(false);
});

it('reuses only the server of this data directory: the same DATA_DIR re-attaches, another DATA_DIR on that port is refused', async () => {
  const dataDir = freshDir();
  const port = await freePort();
  const first = await start(dataDir, port);
  const again = await start(dataDir, port);
  expect(again.url).toBe(first.url);
  // Re-attached, not owned: stopping it leaves the first owner's server running.
  await again.stop();
  expect(await canConnect(first.url)).toBe(true);

  const stranger = await failureOf(start(freshDir(), port));
  expectOneLine(stranger);
  expect(stranger.message).toContain(`port ${port} is taken by another program`);
  expect(stranger.message).toContain('set EMBEDDED_POSTGRES_PORT to a free port');

  const otherPort = await freePort();
  const moved = await failureOf(start(dataDir, otherPort));
  expectOneLine(moved);
  expect(moved.message).toContain(`on port ${port}, not ${otherPort}`);
  expect(moved.message).toContain(`set EMBEDDED_POSTGRES_PORT=${port}`);
});

it('a port held by any other program is an error in one line, not a server to use', async () => {
  const port = await freePort();
  const holder: Server = createServer((socket) => socket.end());
  await new Promise<void>((done) => holder.listen(port, '127.0.0.1', done));
  try {
    const err = await failureOf(start(freshDir(), port));
    expectOneLine(err);
    expect(err.message).toContain(`port ${port} is taken by another program`);
  } finally {
    await new Promise((done) => holder.close(done));
  }
});

it('a data directory PostgreSQL cannot start from: its own reason and what to do, in one line', async () => {
  const dataDir = freshDir();
  const port = await freePort();
  const pg = await start(dataDir, port);
  await pg.stop();
  started.splice(started.indexOf(pg), 1);
  // As if made by another major version.
  writeFileSync(join(dataDir, 'pg', 'PG_VERSION'), '9\n');
  const err = await failureOf(start(dataDir, port));
  expectOneLine(err);
  expect(err.message).toMatch(
    /^PostgreSQL did not start: .*incompatible.*; this DATA_DIR was made by another PostgreSQL version/,
  );
});

it('DATA_DIR that is a file: one line saying to choose a writable folder', async () => {
  mkdirSync(ROOT, { recursive: true });
  const file = join(ROOT, 'a-file');
  writeFileSync(file, 'not a folder');
  const err = await failureOf(start(file, await freePort()));
  expectOneLine(err);
  expect(err.message).toContain('set DATA_DIR to a folder you can write to');
});

it('a data directory from before random passwords (postgres/postgres, no password file) gets a random one at its next start', async () => {
  const dataDir = freshDir();
  const port = await freePort();
  const pg = await start(dataDir, port);
  const admin = new Client({ connectionString: urlWith(password(dataDir), port) });
  await admin.connect();
  await admin.query(`ALTER ROLE postgres PASSWORD 'postgres'`);
  await admin.end();
  await pg.stop();
  started.splice(started.indexOf(pg), 1);
  unlinkSync(join(dataDir, 'postgres-password'));

  const upgraded = await start(dataDir, port);
  const pw = password(dataDir);
  expect(pw).not.toBe('postgres');
  expect(statSync(join(dataDir, 'postgres-password')).mode & 0o777).toBe(0o600);
  expect(await canConnect(upgraded.url)).toBe(true);
  expect(await canConnect(urlWith('postgres', port))).toBe(false);
});

it('a lost password file for a data directory with a random password: one line saying to restore it or start afresh', async () => {
  const dataDir = freshDir();
  const port = await freePort();
  const pg = await start(dataDir, port);
  await pg.stop();
  started.splice(started.indexOf(pg), 1);
  unlinkSync(join(dataDir, 'postgres-password'));
  const err = await failureOf(start(dataDir, port));
  expectOneLine(err);
  expect(err.message).toContain('has no password file');
  expect(err.message).toContain('restore that file, or delete DATA_DIR');
});

it('DATA_DIR under a folder closed to others (mode 700, like root home): the data persists across restarts', async () => {
  const closed = join(ROOT, `closed-${++n}`);
  mkdirSync(closed, { recursive: true });
  chmodSync(closed, 0o700);
  const dataDir = join(closed, 'project', '.data');
  // World-traversable, as /var/lib/alicloud-recharge is.
  const runtimeRoot = join(ROOT, `runtime-${n}`);
  const port = await freePort();
  const options = { dataDir, port, runtimeRoot, stopOnSignals: false };
  const first = await startEmbeddedPostgres(options);
  const admin = new Client({ connectionString: first.url });
  await admin.connect();
  await admin.query('CREATE TABLE kept (note text)');
  await admin.query('INSERT INTO kept VALUES ($1)', ['still here']);
  await admin.end();
  await first.stop();

  const link = join(dataDir, 'pg');
  if (process.getuid?.() === 0) {
    // PostgreSQL runs as `postgres`, which cannot enter the 700 folder: the data directory lives
    // under the runtime root and DATA_DIR/pg points to it.
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(first.pgData.startsWith(join(runtimeRoot, 'data'))).toBe(true);
    expect(readlinkSync(link)).toBe(first.pgData);
    expect(statSync(first.pgData).uid).not.toBe(0);
  } else {
    // Not root: the server runs as this user, who can enter its own 700 folder: data in place.
    expect(first.pgData).toBe(link);
    expect(lstatSync(link).isDirectory()).toBe(true);
  }

  const second = await startEmbeddedPostgres(options);
  started.push(second);
  expect(second.pgData).toBe(first.pgData);
  const again = new Client({ connectionString: second.url });
  await again.connect();
  expect((await again.query('SELECT note FROM kept')).rows).toEqual([{ note: 'still here' }]);
  await again.end();
});

it('a failure nobody foresaw (DATA_DIR/pg a dangling symlink) is still one line, with what to do', async () => {
  const dataDir = freshDir();
  mkdirSync(dataDir, { recursive: true });
  symlinkSync(join(dataDir, 'nowhere'), join(dataDir, 'pg'));
  const err = await failureOf(start(dataDir, await freePort()));
  expectOneLine(err);
  expect(err.message).toMatch(/^starting it failed unexpectedly \(ENOENT: .*\); read .*postgresql\.log if it exists/);
});
