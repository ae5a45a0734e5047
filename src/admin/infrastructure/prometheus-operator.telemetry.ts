import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { PrometheusTelemetry } from '../../observability/prometheus-telemetry';
import { OperatorTelemetry } from '../application/ports/admin-commands';

/** operator_actions_total{action}, on the service's one registry (served at /metrics). */
@Injectable()
export class PrometheusOperatorTelemetry extends OperatorTelemetry {
  private readonly actions: Counter<'action'>;

  constructor(prometheus: PrometheusTelemetry) {
    super();
    this.actions =
      (prometheus.registry.getSingleMetric('operator_actions_total') as Counter<'action'> | undefined) ??
      new Counter({
        name: 'operator_actions_total',
        help: 'Actions taken by operators (resolve, redrive, redeliver_callback, acknowledge_discrepancy, pause_rule, resume_rule)',
        labelNames: ['action'],
        registers: [prometheus.registry],
      });
  }

  action(action: string): void {
    this.actions.inc({ action });
  }
}
