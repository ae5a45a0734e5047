import { RechargeTransition } from '../../domain/recharge';

/** What the recharge flow reports about itself; prom-client in production, a no-op in unit tests. */
export abstract class RechargeTelemetry {
  abstract requestOutcome(outcome: string): void;
  abstract transitions(transitions: RechargeTransition[], createdAt: Date): void;
  abstract providerCall(action: string, outcome: string, seconds: number): void;
  abstract circuitState(state: 'closed' | 'open' | 'half_open'): void;
}
