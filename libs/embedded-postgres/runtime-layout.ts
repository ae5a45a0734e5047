import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EmbeddedPostgresError, oneLine } from './embedded-postgres.error';

/** The PostgreSQL binaries to run: `bin/`, `lib/` and `share/` under one folder. */
export interface Binaries {
  root: string;
  /** `@embedded-postgres/<platform>-<arch>@<version>`: names the runtime copy. */
  id: string;
}

/** The operating-system user the server runs as when the service itself runs as root. */
export interface RunAs {
  uid: number;
  gid: number;
}

/** Where the server's files live and who runs it. */
export interface RuntimeLayout {
  binaries: Binaries;
  /** The PostgreSQL data directory (`<DATA_DIR>/pg`, or the folder that symlink points to). */
  pgData: string;
  runAs: RunAs | null;
}

/** Default for EMBEDDED_POSTGRES_ROOT: used only as root, when `postgres` cannot reach DATA_DIR. */
export const DEFAULT_RUNTIME_ROOT = '/var/lib/alicloud-recharge';

const DATA_MOVED = 'see docs/getting-started.md, "Running as root"';

/** The binaries the `embedded-postgres` package installed for this platform (an optional dependency). */
export function locateBinaries(): Binaries {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    // Resolved next to embedded-postgres, which lists every platform's package as optional.
    const fromPackage = createRequire(require.resolve('embedded-postgres'));
    entry = fromPackage.resolve(name);
  } catch {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL binaries (${name}) are not installed`,
      'it is a development dependency: run `npm install` (not --omit=dev or --omit=optional), or set DATABASE_URL to a PostgreSQL 15+ server',
    );
  }
  const root = resolve(dirname(entry), '..', 'native');
  const version = (
    JSON.parse(readFileSync(resolve(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }
  ).version;
  if (!existsSync(join(root, 'bin', 'postgres'))) {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL package ${name} has no binaries in ${root}`,
      'reinstall it with `rm -rf node_modules && npm install` (install scripts must be allowed for it)',
    );
  }
  return { root, id: `${name.replace('/', '-').replace('@', '')}-${version}` };
}

/**
 * PostgreSQL refuses to run as root. As root the server runs as the system user `postgres`
 * (created if missing), which must be able to open the binaries and the data directory. A project
 * cloned into root's home (mode 0700) is closed to that user, so there the binaries are copied
 * once to `<runtimeRoot>/binaries/<package-version>` and the data directory lives in
 * `<runtimeRoot>/data/<hash of DATA_DIR>/pg`, with `<DATA_DIR>/pg` a symlink to it: the data stays
 * persistent and is found again by the same DATA_DIR. Anyone else runs everything in place.
 */
export function prepareLayout(dataDir: string, runtimeRoot: string): RuntimeLayout {
  const binaries = locateBinaries();
  const link = join(dataDir, 'pg');
  if (process.getuid?.() !== 0) return { binaries, pgData: link, runAs: null };

  const runAs = ensurePostgresUser();
  const reachable = { binaries: canRunBinaries(binaries.root, runAs), data: canEnter(dataDir, runAs) };
  let pgData = link;
  let copied = binaries;
  if (!reachable.binaries || !reachable.data) {
    makeTraversable(runtimeRoot);
    if (!canEnter(runtimeRoot, runAs)) {
      throw new EmbeddedPostgresError(
        `the user postgres cannot enter EMBEDDED_POSTGRES_ROOT ${runtimeRoot}, where the server's files must live because ${dataDir} is closed to it`,
        'point EMBEDDED_POSTGRES_ROOT at a folder every user can enter (each folder above it mode 755), or run as a user other than root',
      );
    }
  }
  if (!reachable.binaries) copied = copyBinaries(binaries, join(runtimeRoot, 'binaries'), runAs);
  if (!reachable.data) pgData = relocatedDataDir(dataDir, link, join(runtimeRoot, 'data'));
  return { binaries: copied, pgData, runAs };
}

function ensurePostgresUser(): RunAs {
  const lookup = (): RunAs | null => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: 'pipe' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: 'pipe' }).trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  const found = lookup();
  if (found) return found;
  try {
    const group = spawnSync('getent', ['group', 'postgres'], { stdio: 'ignore' });
    if (group.status !== 0) execFileSync('groupadd', ['--system', 'postgres'], { stdio: 'pipe' });
    execFileSync(
      'useradd',
      [
        '--system',
        '--gid',
        'postgres',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        'postgres',
      ],
      { stdio: 'pipe' },
    );
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message;
    throw new EmbeddedPostgresError(
      `PostgreSQL refuses to run as root and the user postgres to run it as could not be created (${oneLine(detail)})`,
      'create it (`useradd --system postgres`), or run `npm start` as a user other than root, or set DATABASE_URL',
    );
  }
  const created = lookup();
  if (!created) {
    throw new EmbeddedPostgresError(
      'the user postgres was created but `id postgres` does not find it',
      'check /etc/passwd, or run `npm start` as a user other than root, or set DATABASE_URL',
    );
  }
  return created;
}

/** Ground truth, not a guess from modes: the user itself tries (ACLs and group memberships count). */
function canEnter(dir: string, runAs: RunAs): boolean {
  mkdirSync(dir, { recursive: true });
  const probe = spawnSync('/bin/sh', ['-c', 'test -x "$1" && test -r "$1"', 'probe', dir], {
    ...runAs,
    cwd: '/',
    stdio: 'ignore',
  });
  return probe.status === 0;
}

function canRunBinaries(root: string, runAs: RunAs): boolean {
  const probe = spawnSync(join(root, 'bin', 'postgres'), ['--version'], { ...runAs, cwd: '/', stdio: 'ignore' });
  return probe.status === 0;
}

/** Creates the folder (and any missing parent) readable and enterable by everyone, whatever the umask. */
function makeTraversable(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) missing.unshift(d);
  try {
    for (const d of missing) {
      mkdirSync(d);
      chmodSync(d, 0o755);
    }
  } catch (err) {
    throw new EmbeddedPostgresError(
      `cannot create EMBEDDED_POSTGRES_ROOT ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      'point EMBEDDED_POSTGRES_ROOT at a writable folder every user can enter, or run as a user other than root',
    );
  }
}

/** Copied once per binaries version, atomically (a half-copied folder is never used). */
function copyBinaries(source: Binaries, into: string, runAs: RunAs): Binaries {
  const target = join(into, source.id);
  makeTraversable(into);
  if (!existsSync(join(target, '.complete'))) {
    const staging = join(into, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      copyTree(source.root, staging);
      writeFileSync(join(staging, '.complete'), `${source.root}\n`);
      rmSync(target, { recursive: true, force: true });
      renameSync(staging, target);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(join(target, '.complete'))) {
        throw new EmbeddedPostgresError(
          `copying the PostgreSQL binaries to ${target} failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
          'free some disk space or point EMBEDDED_POSTGRES_ROOT at a writable folder',
        );
      }
      // Another process finished the same copy first.
    }
  }
  if (!canRunBinaries(target, runAs)) {
    throw new EmbeddedPostgresError(
      `the user postgres cannot run the PostgreSQL binaries copied to ${target}`,
      'point EMBEDDED_POSTGRES_ROOT at a folder every user can enter, on a file system not mounted noexec',
    );
  }
  return { root: target, id: source.id };
}

function copyTree(from: string, to: string): void {
  mkdirSync(to);
  chmodSync(to, 0o755);
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const stat = lstatSync(src);
    if (stat.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else if (stat.isDirectory()) copyTree(src, dst);
    else {
      copyFileSync(src, dst);
      chmodSync(dst, stat.mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

/**
 * `<DATA_DIR>/pg` as a symlink into the runtime root, named after DATA_DIR's real path so the same
 * DATA_DIR finds its data again and two clones never share one.
 */
function relocatedDataDir(dataDir: string, link: string, into: string): string {
  const existing = lstatOrNull(link);
  if (existing?.isSymbolicLink()) return resolve(dirname(link), readlinkSync(link));
  if (existing?.isDirectory()) {
    if (readdirSync(link).length > 0) {
      throw new EmbeddedPostgresError(
        `${link} holds a PostgreSQL data directory that the user postgres cannot reach (a folder above it is closed, e.g. a home folder with mode 700)`,
        `move it under EMBEDDED_POSTGRES_ROOT and leave a symlink (${DATA_MOVED}), or delete it to start with an empty database`,
      );
    }
    // Left empty by an earlier start that failed before initdb: nothing to keep.
    rmSync(link, { recursive: true });
  } else if (existing) {
    throw new EmbeddedPostgresError(
      `${link} exists and is neither a folder nor a symlink`,
      'remove it, or choose another DATA_DIR',
    );
  }
  const home = join(into, createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 16));
  makeTraversable(home);
  // For whoever finds the folder: which DATA_DIR it belongs to.
  writeFileSync(join(home, 'DATA_DIR'), `${realpathSync(dataDir)}\n`);
  const pgData = join(home, 'pg');
  symlinkSync(pgData, link);
  return pgData;
}

/** The server's data directory, created empty and owned by the user that runs the server. */
export function ensureOwnedDirectory(dir: string, runAs: RunAs | null): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (runAs) chownSync(dir, runAs.uid, runAs.gid);
  chmodSync(dir, 0o700);
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
