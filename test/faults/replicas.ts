import { ChildService, startCompiledService } from '../support/confirmations';

/**
 * One of the two compiled service processes a chaos suite runs on one database. Its port is
 * chosen before anything starts (the simulator may notify A) and kept, so a process SIGKILLed
 * mid-run comes back where the other process and the simulator expect it.
 */
export interface Replica {
  name: 'A' | 'B';
  port: number;
  svc?: ChildService;
  /** False from the SIGKILL until the restart is listening: no requests for it meanwhile. */
  up: boolean;
}

/**
 * What the chaos suites run the compiled service with: the simulator as the provider, re-drives
 * due 1.5 s after an unknown outcome (checked every second), no client rate limit, no drain delay
 * at shutdown; `env` adds the suite's own (rate, timeouts, secrets) and may override any of these.
 */
export function chaosServiceEnv(
  databaseUrl: string,
  simulatorUrl: string,
  env: Record<string, string>,
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    PROVIDER: 'simulator',
    ALIBABA_CLOUD_BSS_ENDPOINT: simulatorUrl,
    RECONCILE_INTERVAL_MS: '1000',
    RECONCILE_AFTER_MS: '1500',
    CLIENT_RATE_LIMIT_RPS: '10000',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    LOG_LEVEL: 'warn',
    ...env,
  };
}

/** Processes A and B, not started; their ports are set in beforeAll. */
export const twoReplicas = (): Replica[] => [
  { name: 'A', port: 0, up: false },
  { name: 'B', port: 0, up: false },
];

/** Starts the compiled service in `replica` on its port, the first time or after a SIGKILL. */
export async function startReplica(replica: Replica, mainJs: string, env: Record<string, string>): Promise<void> {
  replica.svc = await startCompiledService(mainJs, replica.port, env);
  replica.up = true;
}
