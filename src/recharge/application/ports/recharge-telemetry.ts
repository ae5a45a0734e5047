import { RechargeTransition } from '../../domain/recharge';

/** What the recharge flow reports about itself; prom-client in production. */
export abstract class RechargeTelemetry {
  abstract requestOutcome(outcome: string): void;
  abstract transitions(transitions: RechargeTransition[], createdAt: Date): void;
  abstract providerCall(action: string, outcome: string, seconds: number): void;
  abstract circuitState(state: 'closed' | 'open' | 'half_open'): void;
  abstract webhookEvent(result: string): void;
  abstract discrepancy(kind: string): void;
  abstract reconciliationRun(outcome: 'succeeded' | 'failed', pendingBeyondSla: number): void;
  abstract callbackDelivery(outcome: string): void;
}
