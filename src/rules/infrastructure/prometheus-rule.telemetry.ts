import { Injectable } from '@nestjs/common';
import { PrometheusTelemetry } from '../../observability/prometheus-telemetry';
import { RuleTelemetry } from '../application/ports/rule-telemetry';
import { Decision } from '../domain/rule-evaluation';

/** The rules' metrics, on the service's one registry. */
@Injectable()
export class PrometheusRuleTelemetry extends RuleTelemetry {
  constructor(private readonly prometheus: PrometheusTelemetry) {
    super();
  }

  evaluation(decision: Decision): void {
    this.prometheus.ruleEvaluations.inc({ decision });
  }

  disabledRules(count: number): void {
    this.prometheus.rulesDisabled.set(count);
  }
}
