import { ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { AppliedCredit, SimulatorStats } from '../../libs/bss-simulator';

const ROOT = resolve(__dirname, '../..');

/**
 * The compiled BSS simulator (`<build>/libs/bss-simulator/main.js`, what `npm run simulator`
 * runs) as its own OS process, configured by SIMULATOR_* variables and read through its admin API.
 * In its own process the arrival times it measures for the rate check are not skewed by the test
 * process's own work (creating recharges, injecting webhooks, polling the database).
 */
export interface SimulatorProcess {
  url: string;
  pid: number;
  stats(): Promise<SimulatorStats>;
  credits(): Promise<AppliedCredit[]>;
  output(): string;
  /** SIGTERM, then SIGKILL after timeoutMs. */
  stop(timeoutMs?: number): Promise<void>;
}

export async function startSimulatorProcess(buildOut: string, port: number, env: Record<string, string>, startTimeoutMs = 20_000): Promise<SimulatorProcess> {
  const child: ChildProcess = spawn(process.execPath, [join(buildOut, 'libs', 'bss-simulator', 'main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, SIMULATOR_PORT: String(port), SIMULATOR_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((r) => (listening = r));
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line);
      if (lines.length > 400) lines.shift();
      if (line.includes('listening on')) listening();
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), startTimeoutMs))),
  ]);
  clearTimeout(timer);
  const output = () => lines.join('\n');
  if (outcome !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`simulator ${outcome === 'exited' ? 'exited' : 'did not start in time'}:\n${output()}`);
  }
  const url = `http://127.0.0.1:${port}`;
  const admin = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}/__admin/${path}`);
    if (res.status !== 200) throw new Error(`simulator admin ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  return {
    url,
    pid: child.pid!,
    output,
    stats: () => admin<SimulatorStats>('stats'),
    credits: async () => (await admin<{ credits: AppliedCredit[] }>('credits')).credits,
    async stop(timeoutMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      let t: NodeJS.Timeout | undefined;
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (t = setTimeout(() => r(false), timeoutMs)))]);
      clearTimeout(t);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
