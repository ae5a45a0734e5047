import { Counter, Gauge, Histogram, collectDefaultMetrics, Registry } from 'prom-client';
import { RechargeTransition } from '../recharge/domain/recharge';
import { RechargeState } from '../recharge/domain/recharge-state';
import { RechargeTelemetry } from '../recharge/application/ports/recharge-telemetry';

const CIRCUIT = { closed: 0, half_open: 1, open: 2 } as const;

/** The metrics of contract section 9, on one registry served at /metrics. */
export class PrometheusTelemetry extends RechargeTelemetry {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'recharge_requests_total',
    help: 'POST /v1/recharges by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly transitionsTotal = new Counter({
    name: 'recharge_transitions_total',
    help: 'State transitions',
    labelNames: ['from', 'to'],
    registers: [this.registry],
  });
  readonly corrections = new Counter({
    name: 'recharge_corrections_total',
    help: 'FAILED(TIMEOUT) recharges later proven SUCCEEDED',
    registers: [this.registry],
  });
  readonly providerRequests = new Counter({
    name: 'provider_requests_total',
    help: 'Calls to Alibaba Cloud by action and outcome',
    labelNames: ['action', 'outcome'],
    registers: [this.registry],
  });
  readonly providerDuration = new Histogram({
    name: 'provider_request_duration_seconds',
    help: 'Latency of calls to Alibaba Cloud',
    labelNames: ['action'],
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly confirmation = new Histogram({
    name: 'recharge_confirmation_seconds',
    help: 'Time from creation to a final state',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly circuit = new Gauge({
    name: 'provider_circuit_state',
    help: 'Provider circuit breaker: 0 closed, 1 half-open, 2 open',
    registers: [this.registry],
  });

  readonly webhookEvents = new Counter({
    name: 'webhook_events_total',
    help: 'Provider notifications by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly discrepancies = new Counter({
    name: 'recharge_discrepancies_total',
    help: 'Provider answers or notifications that contradict our books or cannot be settled automatically, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly reconciliationRuns = new Counter({
    name: 'reconciliation_runs_total',
    help: 'Reconciliation passes by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly reconciliationLastSuccess = new Gauge({
    name: 'reconciliation_last_success_timestamp_seconds',
    help: 'When a reconciliation pass last succeeded',
    registers: [this.registry],
  });
  readonly pendingBeyondSla = new Gauge({
    name: 'recharges_pending_beyond_sla',
    help: 'Open recharges older than RECONCILE_AFTER_MS at the last reconciliation pass',
    registers: [this.registry],
  });
  readonly callbackDeliveries = new Counter({
    name: 'callback_deliveries_total',
    help: 'Callback delivery attempts by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  constructor() {
    super();
    collectDefaultMetrics({ register: this.registry });
    this.circuit.set(0);
  }

  requestOutcome(outcome: string): void {
    this.requests.inc({ outcome });
  }

  transitions(transitions: RechargeTransition[], createdAt: Date): void {
    for (const t of transitions) {
      this.transitionsTotal.inc({ from: t.from ?? 'none', to: t.to });
      if (t.correction) this.corrections.inc();
      if (t.to === RechargeState.SUCCEEDED || t.to === RechargeState.FAILED || t.to === RechargeState.CANCELED) {
        this.confirmation.observe(Math.max(0, (t.at.getTime() - createdAt.getTime()) / 1000));
      }
    }
  }

  providerCall(action: string, outcome: string, seconds: number): void {
    this.providerRequests.inc({ action, outcome });
    this.providerDuration.observe({ action }, seconds);
  }

  circuitState(state: keyof typeof CIRCUIT): void {
    this.circuit.set(CIRCUIT[state]);
  }

  webhookEvent(result: string): void {
    this.webhookEvents.inc({ result });
  }

  discrepancy(kind: string): void {
    this.discrepancies.inc({ kind });
  }

  reconciliationRun(outcome: 'succeeded' | 'failed', pendingBeyondSla: number): void {
    this.reconciliationRuns.inc({ outcome });
    this.pendingBeyondSla.set(pendingBeyondSla);
    if (outcome === 'succeeded') this.reconciliationLastSuccess.setToCurrentTime();
  }

  callbackDelivery(outcome: string): void {
    this.callbackDeliveries.inc({ outcome });
  }
}
