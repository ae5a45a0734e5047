import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when the process exited. */
  at: number;
}

export interface NodeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout, unabridged. */
  stdout(): string;
  /** Everything the process wrote to stderr, unabridged. */
  stderr(): string;
  /** stdout and stderr interleaved as they arrived. */
  output(): string;
  /** Resolves with the first line (so far or later) matching `pattern`; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  readonly exited: Promise<Exit>;
  /** Sends a signal; returns Date.now() at the moment it was sent. */
  signal(signal: NodeJS.Signals): number;
  /** SIGKILL if still running, then waits for the exit. */
  kill(): Promise<Exit>;
  /** SIGTERM (the process's own graceful shutdown); SIGKILL if it has not exited within timeoutMs. */
  stop(timeoutMs?: number): Promise<Exit>;
}

/**
 * A Node.js script as its own OS process with captured output. Only the given variables (plus
 * PATH and HOME) reach it, so a developer's real Alibaba Cloud keys or OTEL_* settings cannot.
 * It never outlives the test process.
 */
export function startNode(
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): NodeProcess {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let out = '';
  let err = '';
  let all = '';
  const waiters = new Set<() => void>();
  const notify = () => [...waiters].forEach((w) => w());
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    all += d.toString('utf8');
    notify();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString('utf8');
    all += d.toString('utf8');
    notify();
  });
  let hasExited = false;
  const exited = new Promise<Exit>((resolveExit) =>
    child.once('exit', (code, signal) => {
      hasExited = true;
      process.off('exit', killOnExit);
      const exit = { code, signal, at: Date.now() };
      // Let the pipes drain so output() is complete once `exited` resolves.
      setImmediate(() => {
        notify();
        resolveExit(exit);
      });
    }),
  );

  const waitForLine = (pattern: RegExp, timeoutMs: number) =>
    new Promise<string>((resolveLine, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`no output line matching ${pattern} within ${timeoutMs} ms:\n${tail(all)}`)),
        timeoutMs,
      );
      const check = () => {
        const line = all.split('\n').find((l) => pattern.test(l));
        if (line !== undefined) return finish(null, line);
        if (hasExited) finish(new Error(`process exited before printing a line matching ${pattern}:\n${tail(all)}`));
      };
      function finish(error: Error | null, line?: string) {
        clearTimeout(timer);
        waiters.delete(check);
        if (error) reject(error);
        else resolveLine(line!);
      }
      waiters.add(check);
      check();
    });

  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    output: () => all,
    waitForLine,
    exited,
    signal(signal) {
      const at = Date.now();
      if (!hasExited) child.kill(signal);
      return at;
    },
    async kill() {
      if (!hasExited) child.kill('SIGKILL');
      return exited;
    },
    async stop(timeoutMs = 15_000) {
      if (!hasExited) child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([
        exited,
        new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (exit) return exit;
      child.kill('SIGKILL');
      return exited;
    },
  };
}

/**
 * startNode, resolved once the process prints a line matching `pattern` (it is listening); killed,
 * and the error thrown, if it exits first or does not print it within timeoutMs.
 */
export async function startNodeUntilLine(
  script: string,
  env: Record<string, string>,
  pattern: RegExp,
  timeoutMs: number,
  nodeArgs: string[] = [],
): Promise<NodeProcess> {
  const proc = startNode(script, [], env, nodeArgs);
  try {
    await proc.waitForLine(pattern, timeoutMs);
  } catch (err) {
    await proc.kill();
    throw err;
  }
  return proc;
}

/** The line the service logs once it accepts requests. */
export const SERVICE_LISTENING = /alicloud-recharge listening/;

export interface ServiceProcessHandle extends NodeProcess {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
}

/**
 * The compiled production entry point (`node <build>/src/main.js`, what the container runs) on a
 * free port; resolves once it logs that it is listening.
 */
export async function startCompiledService(
  buildOut: string,
  env: Record<string, string>,
  startTimeoutMs = 30_000,
): Promise<ServiceProcessHandle> {
  const port = await freePort();
  const proc = await startNodeUntilLine(
    join(buildOut, 'src', 'main.js'),
    { ...env, PORT: String(port) },
    SERVICE_LISTENING,
    startTimeoutMs,
  );
  return Object.assign(proc, { url: `http://127.0.0.1:${port}` });
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

function tail(text: string, lines = 60): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Runs a script to completion: exit code and all of its output. */
export async function runNode(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = startNode(script, args, env);
  const { code } = await proc.exited;
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** `clients:create --json` of the compiled operator CLI: the API key and webhook secret, shown once. */
export async function createClientWithCli(
  buildOut: string,
  databaseUrl: string,
  { name = 'test client', accounts = '*' }: { name?: string; accounts?: string } = {},
): Promise<{ clientId: string; apiKey: string; webhookSecret: string }> {
  const run = await runNode(
    join(buildOut, 'src', 'cli.js'),
    ['clients:create', '--name', name, '--accounts', accounts, '--json'],
    {
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'silent',
    },
  );
  if (run.code !== 0) throw new Error(`clients:create exited ${run.code}:\n${run.stdout}${run.stderr}`);
  return JSON.parse(run.stdout);
}
