import { Decision } from '../../domain/rule-evaluation';

/** What the rules report about themselves; prom-client in production. */
export abstract class RuleTelemetry {
  abstract evaluation(decision: Decision): void;
  /** Rules disabled right now, all replicas together (read from the database). */
  abstract disabledRules(count: number): void;
}
