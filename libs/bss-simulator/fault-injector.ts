/**
 * Fault injection: rules that make matching calls fail the way a real provider does, so the
 * service's retry, timeout and "unknown outcome" paths can be tested on demand.
 */
export type FaultKind = 'throttle' | 'error5xx' | 'delay' | 'applyThenDrop' | 'notAuthorized';

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
  /** For 'error5xx': HTTP status, default 503. */
  status?: number;
}

const FAULT_KINDS: readonly FaultKind[] = ['throttle', 'error5xx', 'delay', 'applyThenDrop', 'notAuthorized'];
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
    for (const name of ['count', 'probability', 'delayMs', 'status']) optional(name, 'number');
    const { count, probability, delayMs, status } = rule as Partial<Record<string, number>>;
    if (count !== undefined && !(Number.isInteger(count) && count > 0))
      throw new Error(`${where}: count must be a positive integer`);
    if (probability !== undefined && !(probability >= 0 && probability <= 1))
      throw new Error(`${where}: probability must be within 0..1`);
    if (delayMs !== undefined && !(delayMs >= 0)) throw new Error(`${where}: delayMs must be >= 0`);
    if (status !== undefined && !(Number.isInteger(status) && status >= 500 && status <= 599)) {
      throw new Error(`${where}: status must be a 5xx code`);
    }
    if (rule.fault === 'delay' && delayMs === undefined) throw new Error(`${where}: delay needs delayMs`);
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
  take(action: string, ownerId: string | undefined): FaultRule | undefined {
    for (const rule of this.rules) {
      const ruleAction = rule.action ?? DEFAULT_ACTION;
      if (ruleAction !== '*' && ruleAction !== action) continue;
      if (rule.ownerId !== undefined && rule.ownerId !== ownerId) continue;
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
