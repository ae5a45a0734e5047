import { join } from 'node:path';
import type { AppliedCredit, SimulatorStats } from '../../libs/bss-simulator';
import { startNodeUntilLine } from '../support/node-process';

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

export async function startSimulatorProcess(
  buildOut: string,
  port: number,
  env: Record<string, string>,
  startTimeoutMs = 20_000,
): Promise<SimulatorProcess> {
  const proc = await startNodeUntilLine(
    join(buildOut, 'libs', 'bss-simulator', 'main.js'),
    { ...env, SIMULATOR_PORT: String(port), SIMULATOR_HOST: '127.0.0.1' },
    /listening on/,
    startTimeoutMs,
  );
  const url = `http://127.0.0.1:${port}`;
  const admin = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}/__admin/${path}`);
    if (res.status !== 200) throw new Error(`simulator admin ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  return {
    url,
    pid: proc.pid,
    output: proc.output,
    stats: () => admin<SimulatorStats>('stats'),
    credits: async () => (await admin<{ credits: AppliedCredit[] }>('credits')).credits,
    async stop(timeoutMs = 5000) {
      await proc.stop(timeoutMs);
    },
  };
}
