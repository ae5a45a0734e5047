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
