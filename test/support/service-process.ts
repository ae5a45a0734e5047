import { ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { freePort } from './node-process';

const ROOT = resolve(__dirname, '../..');

/**
 * Loads TypeScript the way the jest transform does (ts-jest with isolatedModules: one file at a
 * time, the project's tsconfig), so a child process runs the current sources of the service
 * without a build and without a stale dist/. Output is cached by content hash in the temp dir.
 */
const TS_HOOK = `
const fs = require('fs');
const crypto = require('crypto');
const root = ${JSON.stringify(ROOT)};
const cacheDir = ${JSON.stringify(resolve(tmpdir(), 'alicloud-recharge-ts-cache'))};
let ts, compilerOptions, salt;
function compile(source, filename) {
  if (!ts) {
    ts = require('typescript');
    const read = ts.readConfigFile(root + '/tsconfig.json', ts.sys.readFile);
    const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root);
    compilerOptions = { ...parsed.options, isolatedModules: true, sourceMap: false, inlineSourceMap: true, declaration: false };
  }
  return ts.transpileModule(source, { compilerOptions, fileName: filename }).outputText;
}
require.extensions['.ts'] = (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  salt ??= fs.readFileSync(root + '/tsconfig.json', 'utf8') + require(root + '/node_modules/typescript/package.json').version;
  const key = crypto.createHash('sha256').update(salt).update(filename).update(source).digest('hex');
  const cached = cacheDir + '/' + key + '.js';
  let output;
  try {
    output = fs.readFileSync(cached, 'utf8');
  } catch {
    output = compile(source, filename);
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
      fs.writeFileSync(cached + '.' + process.pid, output);
      fs.renameSync(cached + '.' + process.pid, cached);
    } catch {}
  }
  module._compile(output, filename);
};
require(process.argv[process.argv.length - 1]);
`;

export interface ServiceProcess {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  pid: number;
  /** SIGTERM, the service's own graceful shutdown; SIGKILL if it has not exited within timeoutMs. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** The last lines the process wrote (stdout and stderr), for failure messages. */
  output(): string;
}

/**
 * `src/main.ts`, the production entry point, as its own OS process: its own event loop, database
 * pool, LISTEN connection, dispatcher and circuit breaker, like a replica behind a load balancer.
 * Only the given variables (plus PATH/HOME) reach it, so a developer's real Alibaba Cloud keys cannot.
 */
export async function startServiceProcess(env: Record<string, string>, startTimeoutMs = 60_000): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', TS_HOOK, resolve(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((resolveReady) => (listening = resolveReady));
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line);
      if (lines.length > 200) lines.shift();
      if (line.includes('alicloud-recharge listening')) listening();
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  // Never outlive the test process, whatever happens to it.
  const killOnExit = () => kill(child, 'SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolveExit) =>
    child.once('exit', (code) => {
      process.off('exit', killOnExit);
      resolveExit(code);
    }),
  );
  const output = () => lines.join('\n');

  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), startTimeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    kill(child, 'SIGKILL');
    throw new Error(`service process ${outcome === 'exited' ? 'exited' : 'did not start in time'}:\n${output()}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    output,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      kill(child, 'SIGTERM');
      let killTimer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => (killTimer = setTimeout(() => r('timeout'), timeoutMs)))]);
      clearTimeout(killTimer);
      if (code !== 'timeout') return code;
      kill(child, 'SIGKILL');
      return exited;
    },
  };
}

function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}
