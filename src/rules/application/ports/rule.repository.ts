import { OperatorActionRecord } from '../../../recharge/application/ports/operator-action';
import { Page } from '../../../recharge/application/ports/page';
import { Rule, RuleStatus } from '../../domain/rule';
import { Decision, RuleState, Verdict } from '../../domain/rule-evaluation';

export interface EvaluationRecord {
  id: string;
  at: Date;
  quota: bigint | null;
  decision: Decision;
  reason: string;
  rechargeId: string | null;
}

export interface RuleView {
  rule: Rule;
  lastEvaluation: EvaluationRecord | null;
}

export interface RuleListQuery {
  /** Unset only for operators (the CLI), who see every client's rules. */
  clientId?: string;
  accountId?: string;
  status?: RuleStatus;
  limit: number;
  /** Exclusive: the id of the last rule of the previous page. */
  after?: string;
}

export interface NewTopUp {
  n: number;
  amount: bigint;
  slotAt: Date | null;
  callbackUrl: string | null;
  createdAt: Date;
}

/** A `rule.disabled` callback for the outbox, written with the evaluation that disabled the rule. */
export interface RuleCallback {
  id: string;
  url: string;
  eventType: string;
  payload: string;
}

/** What one evaluation stores, in one transaction with the rule's new state. */
export interface EvaluationStep {
  at: Date;
  verdict: Verdict;
  /** Top-ups now counted into the rule's run of failures. */
  settled: number[];
  newTopUp: NewTopUp | null;
  callback: RuleCallback | null;
}

export abstract class RuleRepository {
  /** Stores a new rule; a second active rule for the same client, account and currency → INVALID_STATE. */
  abstract create(rule: Rule): Promise<void>;
  /** A rule that is not deleted, with its latest evaluation. */
  abstract find(id: string): Promise<RuleView | null>;
  abstract list(query: RuleListQuery): Promise<Page<RuleView>>;
  /**
   * Locks the rule, lets `change` drive it and stores it (INVALID_STATE when that would make a
   * second active rule), with the operator's audit record when one acts. Null when it does not
   * exist or is deleted.
   */
  abstract update(id: string, change: (rule: Rule) => void, audit?: OperatorActionRecord): Promise<Rule | null>;
  /**
   * Claims active rules due at `now` (FOR UPDATE SKIP LOCKED) by pushing their due time to
   * `leaseUntil`: each is evaluated by one replica at a time, and one whose replica died is
   * claimed again once the lease runs out.
   */
  abstract claimDue(limit: number, now: Date, leaseUntil: Date): Promise<string[]>;
  /** The rule and its top-ups created since `since` (plus every unsettled one and the latest), unlocked. */
  abstract load(id: string, since: Date): Promise<RuleState | null>;
  /**
   * The same state under the rule's row lock; `decide` (synchronous domain logic) changes the rule
   * and says what to store. Everything commits together. Null when the rule is gone.
   */
  abstract evaluate(
    id: string,
    since: Date,
    decide: (state: RuleState) => EvaluationStep,
  ): Promise<EvaluationStep | null>;
  /** The recharge created for top-up `n` (idempotent). */
  abstract linkTopUp(ruleId: string, n: number, rechargeId: string): Promise<void>;
  /** Top-up `n` could not be created (refused by policy): it counts as a failure. */
  abstract refuseTopUp(ruleId: string, n: number, reason: string): Promise<void>;
  /** Newest first; `before` is exclusive. */
  abstract evaluations(ruleId: string, limit: number, before?: string): Promise<Page<EvaluationRecord>>;
  abstract countDisabled(): Promise<number>;
}
