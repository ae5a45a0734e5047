import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const CACHE = join(ROOT, 'node_modules', '.cache');
const PREFIX = 'service-build-';
const INPUTS = ['src', 'libs', 'config', 'migrations', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
const STALE_AFTER_MS = 15 * 60_000;

/**
 * `npm run build` of the current sources (tsc -p tsconfig.build.json, type checking left to the
 * typecheck step) into a folder of the test run's own inside node_modules (so the compiled code
 * resolves its dependencies): a suite runs exactly the code it tests, and neither races nor clobbers
 * a concurrent `npm run build` into dist/. The folder is named after a hash of the sources, so the
 * suites that need a build share one; a lock keeps parallel jest workers from building it twice.
 * Returns the build's root: `<root>/src/main.js` is the service.
 */
export function compiledService(): string {
  const hash = sourceHash();
  const out = join(CACHE, `${PREFIX}${hash}`);
  if (existsSync(join(out, 'src', 'main.js'))) return out;
  mkdirSync(CACHE, { recursive: true });
  const lock = `${out}.lock`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(join(out, 'src', 'main.js'))) return out;
      // A lock left by a killed run: take it over after a while.
      if (ageMs(lock) > 180_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for another build of ${out}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (existsSync(join(out, 'src', 'main.js'))) return out;
    removeStaleBuilds(out);
    const tmp = `${out}.tmp-${process.pid}`;
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    const build = spawnSync(tsc, ['-p', 'tsconfig.build.json', '--noCheck', '--outDir', tmp], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (!existsSync(join(tmp, 'src', 'main.js'))) {
      rmSync(tmp, { recursive: true, force: true });
      throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
    }
    renameSync(tmp, out);
    return out;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function sourceHash(): string {
  const hash = createHash('sha256');
  const visit = (path: string) => {
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(join(path, name));
      return;
    }
    hash.update(relative(ROOT, path)).update('\0').update(readFileSync(path)).update('\0');
  };
  for (const input of INPUTS) visit(join(ROOT, input));
  return hash.digest('hex').slice(0, 16);
}

function removeStaleBuilds(keep: string): void {
  for (const name of readdirSync(CACHE)) {
    const path = join(CACHE, name);
    if (name.startsWith(PREFIX) && path !== keep && !name.endsWith('.lock') && ageMs(path) > STALE_AFTER_MS) {
      rmSync(path, { recursive: true, force: true });
    }
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
