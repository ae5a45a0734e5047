import { INJECTABLE_ERRORS } from './bss-errors';

/**
 * Fault injection: rules that make matching calls fail the way a real provider does, so the
 * service's retry, timeout and "unknown outcome" paths can be tested on demand.
 *
 * - throttle: Throttling.User; error5xx: a 5xx (JSON or a load balancer's HTML); delay: held
 *   `delayMs`, then applied and answered (maybe after the caller gave up); applyThenDrop: applied,
 *   then the connection is cut before the answer; notAuthorized: NotAuthorized. None but delay and
 *   applyThenDrop applies anything.
 * - reject: answers the documented error `code` (see INJECTABLE_ERRORS: -1101, InternalError,
 *   CreditInnerError, UndefinedError, NotApplicable, NotAuthorized, ParameterError, -303, -304,
 *   IdempotentParameterMismatch, and gateway codes such as InvalidTimeStamp.Expired), nothing applied.
 * - repeatOutBizId: what a ChangeResellerConsumeAmount repeating an OutBizId that was already
 *   applied gets: `answer` 'first' (the first result; also the default without a rule), 'error'
 *   (`code`, default -303) or 'fresh' (success with the ledger's consumption now as Data).
 *
 * `repeat: true` limits any rule to calls repeating an applied OutBizId (e.g. applyThenDrop, then a
 * NotAuthorized for the re-send), `repeat: false` to first sends.
 */
export type FaultKind =
  'throttle' | 'error5xx' | 'delay' | 'applyThenDrop' | 'notAuthorized' | 'reject' | 'repeatOutBizId';

export interface FaultRule {
  fault: FaultKind;
  /** Action the rule applies to; default ChangeResellerConsumeAmount, '*' for every action. */
  action?: string;
  /** Only the next N calls that trigger it; without count the rule stays until cleared. */
  count?: number;
  /** Chance (0..1) that a matching call triggers it, drawn from the simulator's seeded RNG. */
  probability?: number;
  /** For 'delay': how long to hold the call before applying it and answering. */
  delayMs?: number;
  /** Only calls for this OwnerId. */
  ownerId?: string;
  /** For 'error5xx': answer with an HTML page, as a load balancer would, instead of a JSON body. */
  html?: boolean;
  /** For 'error5xx': HTTP status, default 503. For 'reject' and 'repeatOutBizId' errors: overrides the code's usual status. */
  status?: number;
  /** For 'reject' and repeatOutBizId 'error': the error code to answer. */
  code?: string;
  /** For 'repeatOutBizId'. */
  answer?: 'first' | 'error' | 'fresh';
  /** Only calls that repeat an OutBizId already applied (true) or only those that do not (false). */
  repeat?: boolean;
}

/** What the call a rule is matched against is. */
export interface FaultCall {
  action: string;
  ownerId: string | undefined;
  /** A ChangeResellerConsumeAmount whose OutBizId was already applied. */
  repeat: boolean;
}

const FAULT_KINDS: readonly FaultKind[] = [
  'throttle',
  'error5xx',
  'delay',
  'applyThenDrop',
  'notAuthorized',
  'reject',
  'repeatOutBizId',
];
const REPEAT_ANSWERS = ['first', 'error', 'fresh'];
const DEFAULT_ACTION = 'ChangeResellerConsumeAmount';

/** Validates rules from JSON (admin API, env). Throws an Error naming the bad field. */
export function parseFaultRules(input: unknown): FaultRule[] {
  const list = Array.isArray(input) ? input : [input];
  return list.map((raw, index) => {
    const where = `fault rule ${index}`;
    if (typeof raw !== 'object' || raw === null) throw new Error(`${where}: must be an object`);
    const rule = raw as Record<string, unknown>;
    if (!FAULT_KINDS.includes(rule.fault as FaultKind)) {
      throw new Error(`${where}: fault must be one of ${FAULT_KINDS.join(', ')}`);
    }
    const optional = (name: string, type: 'string' | 'number' | 'boolean') => {
      if (rule[name] !== undefined && typeof rule[name] !== type)
        throw new Error(`${where}: ${name} must be a ${type}`);
    };
    optional('action', 'string');
    optional('ownerId', 'string');
    optional('html', 'boolean');
    optional('repeat', 'boolean');
    optional('code', 'string');
    optional('answer', 'string');
    for (const name of ['count', 'probability', 'delayMs', 'status']) optional(name, 'number');
    const { count, probability, delayMs, status } = rule as Partial<Record<string, number>>;
    if (count !== undefined && !(Number.isInteger(count) && count > 0))
      throw new Error(`${where}: count must be a positive integer`);
    if (probability !== undefined && !(probability >= 0 && probability <= 1))
      throw new Error(`${where}: probability must be within 0..1`);
    if (delayMs !== undefined && !(delayMs >= 0)) throw new Error(`${where}: delayMs must be >= 0`);
    if (
      rule.fault === 'error5xx' &&
      status !== undefined &&
      !(Number.isInteger(status) && status >= 500 && status <= 599)
    ) {
      throw new Error(`${where}: status must be a 5xx code`);
    }
    if (status !== undefined && !(Number.isInteger(status) && status >= 400 && status <= 599)) {
      throw new Error(`${where}: status must be a 4xx or 5xx code`);
    }
    if (rule.fault === 'delay' && delayMs === undefined) throw new Error(`${where}: delay needs delayMs`);
    const codes = Object.keys(INJECTABLE_ERRORS).join(', ');
    if (rule.fault === 'reject' && !(typeof rule.code === 'string' && rule.code in INJECTABLE_ERRORS)) {
      throw new Error(`${where}: reject needs code, one of ${codes}`);
    }
    if (rule.fault === 'repeatOutBizId') {
      if (!REPEAT_ANSWERS.includes(rule.answer as string)) {
        throw new Error(`${where}: repeatOutBizId needs answer, one of ${REPEAT_ANSWERS.join(', ')}`);
      }
      if (rule.code !== undefined && !(typeof rule.code === 'string' && rule.code in INJECTABLE_ERRORS)) {
        throw new Error(`${where}: code must be one of ${codes}`);
      }
      if (rule.repeat === false) throw new Error(`${where}: repeatOutBizId only applies to repeats`);
    }
    return { ...(rule as unknown as FaultRule) };
  });
}

/** mulberry32: a tiny seeded PRNG so probabilistic faults replay identically run after run. */
export function createSeededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  private rules: FaultRule[] = [];

  constructor(private readonly random: () => number) {}

  add(rules: FaultRule[]): void {
    this.rules.push(...parseFaultRules(rules));
  }

  clear(): void {
    this.rules = [];
  }

  /** Active rules; `count` shows the uses left. */
  list(): FaultRule[] {
    return this.rules.map((rule) => ({ ...rule }));
  }

  /** The first matching rule that triggers for this call, using up one of its counted uses. */
  take(call: FaultCall): FaultRule | undefined {
    for (const rule of this.rules) {
      const ruleAction = rule.action ?? DEFAULT_ACTION;
      if (ruleAction !== '*' && ruleAction !== call.action) continue;
      if (rule.ownerId !== undefined && rule.ownerId !== call.ownerId) continue;
      const repeatOnly = rule.fault === 'repeatOutBizId' ? true : rule.repeat;
      if (repeatOnly !== undefined && repeatOnly !== call.repeat) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      if (rule.count !== undefined) {
        rule.count -= 1;
        if (rule.count === 0) this.rules = this.rules.filter((r) => r !== rule);
      }
      return { ...rule };
    }
    return undefined;
  }
}
