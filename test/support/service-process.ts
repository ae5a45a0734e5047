import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { freePort, SERVICE_LISTENING, startNodeUntilLine } from './node-process';

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
  /** What the process wrote (stdout and stderr), for failure messages. */
  output(): string;
}

/**
 * `src/main.ts`, the production entry point, as its own OS process: its own event loop, database
 * pool, LISTEN connection, dispatcher and circuit breaker, like a replica behind a load balancer.
 * Only the given variables (plus PATH/HOME) reach it, so a developer's real Alibaba Cloud keys cannot.
 */
export async function startServiceProcess(
  env: Record<string, string>,
  startTimeoutMs = 60_000,
): Promise<ServiceProcess> {
  const port = await freePort();
  const proc = await startNodeUntilLine(
    resolve(ROOT, 'src/main.ts'),
    { ...env, PORT: String(port) },
    SERVICE_LISTENING,
    startTimeoutMs,
    ['-e', TS_HOOK],
  );
  return {
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    output: proc.output,
    async stop(timeoutMs = 15_000) {
      return (await proc.stop(timeoutMs)).code;
    },
  };
}

/** `count` replicas on the same `env`, started together; if one does not start, the others are stopped. */
export async function startReplicas(env: Record<string, string>, count = 2): Promise<ServiceProcess[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => startServiceProcess(env)));
  const replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(replicas.map((r) => r.stop()));
    throw failed.reason;
  }
  return replicas;
}
