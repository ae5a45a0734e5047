import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { DomainError } from '../../libs/shared/domain-error';
import { journalForSucceededRecharge, signedAmount } from '../../src/recharge/domain/ledger';
import { Currency, CURRENCIES, Money } from '../../src/recharge/domain/money';
import {
  FailureCode,
  ProviderReport,
  Recharge,
  RechargeTransition,
  ReportResult,
} from '../../src/recharge/domain/recharge';
import {
  ALLOWED_TRANSITIONS,
  FINAL_STATES,
  RechargeState as S,
  TransitionSource,
} from '../../src/recharge/domain/recharge-state';
import { faultSeed, sized } from './fault-settings';

/**
 * Model-based property test of the Recharge aggregate (issue item 2a). fast-check generates random
 * sequences of what the dispatcher, the API, the reconciler and provider notifications do to one
 * recharge — commands in any order, provider reports duplicated and reordered — and after every
 * step the aggregate must agree with an independent model of contract section 3 and keep the
 * money invariants: every recorded transition is in the table, FAILED→SUCCEEDED only after our own
 * TIMEOUT, SUCCEEDED and CANCELED are never left, at most one SUCCEEDED transition (so the ledger
 * journal, posted once per SUCCEEDED transition, credits at most once), a refused command changes
 * nothing, completedAt is set exactly when the recharge is final.
 *
 * Replay: `FAULT_SEED=<seed> npx jest test/faults/recharge.property` (the seed is printed; fixed
 * inside `npm test`, random under `npm run test:faults`).
 */
const SEED = faultSeed(20261203);
const RUNS = sized('FAULT_RUNS', 20_000, 2_000);
const MAX_COMMANDS = 60;
const OPEN = [S.CREATED, S.SUBMITTED, S.PENDING_CONFIRMATION];
const SENT = [S.SUBMITTED, S.PENDING_CONFIRMATION];

/** What the model says one command does: applied (to a state), or why it has no effect. */
type Expected =
  | { kind: 'applied'; to: S; failureCode: FailureCode | null; correction: boolean }
  | { kind: 'unchanged-state' } // scheduleNextAttempt on an open recharge: bookkeeping only
  | { kind: 'refused' } // the method throws INVALID_STATE
  | { kind: 'duplicate' | 'ignored' } // applyProviderReport answers without effect
  // A success for a CANCELED or definitively FAILED recharge: no state change, a discrepancy kept.
  | { kind: 'discrepancy'; discrepancy: 'success_after_cancel' | 'success_after_failure' };

interface Model {
  state: S;
  failureCode: FailureCode | null;
  attempts: number;
  nowMs: number;
  everSubmitted: boolean;
}

interface Real {
  r: Recharge;
  /** Every transition pulled so far (creation included). */
  log: RechargeTransition[];
  /** Customer credits posted by the journal of each SUCCEEDED transition. */
  credited: bigint;
  journals: number;
}

/** The contract's table and its one extra condition, written out independently of the aggregate. */
function decide(m: Model, op: Op): Expected {
  const s = m.state;
  const timedOut = s === S.FAILED && m.failureCode === 'TIMEOUT';
  const sent = SENT.includes(s);
  const apply = (to: S, failureCode: FailureCode | null, correction = false): Expected => ({
    kind: 'applied',
    to,
    failureCode,
    correction,
  });
  switch (op.kind) {
    case 'submit':
      return s === S.CREATED ? apply(S.SUBMITTED, null) : { kind: 'refused' };
    case 'awaitConfirmation':
      return s === S.SUBMITTED ? apply(S.PENDING_CONFIRMATION, null) : { kind: 'refused' };
    case 'succeed':
      return sent ? apply(S.SUCCEEDED, null) : timedOut ? apply(S.SUCCEEDED, null, true) : { kind: 'refused' };
    case 'reject':
      return sent ? apply(S.FAILED, 'PROVIDER_REJECTED') : { kind: 'refused' };
    case 'expire':
      return sent ? apply(S.FAILED, 'TIMEOUT') : { kind: 'refused' };
    case 'cancel':
      return OPEN.includes(s) ? apply(S.CANCELED, 'CANCELED') : { kind: 'refused' };
    case 'scheduleNextAttempt':
      // Only open work is scheduled; a final recharge is never put back on the queue.
      return OPEN.includes(s) ? { kind: 'unchanged-state' } : { kind: 'refused' };
    case 'report': {
      const target = { SUCCEEDED: S.SUCCEEDED, FAILED: S.FAILED, CANCELED: S.CANCELED }[op.report.status];
      if (s === target) return { kind: 'duplicate' };
      if (op.report.status === 'SUCCEEDED') {
        if (s === S.CANCELED) return { kind: 'discrepancy', discrepancy: 'success_after_cancel' };
        if (s === S.FAILED && !timedOut) return { kind: 'discrepancy', discrepancy: 'success_after_failure' };
        return sent ? apply(S.SUCCEEDED, null) : timedOut ? apply(S.SUCCEEDED, null, true) : { kind: 'ignored' };
      }
      if (op.report.status === 'FAILED') return sent ? apply(S.FAILED, 'PROVIDER_REJECTED') : { kind: 'ignored' };
      return OPEN.includes(s) ? apply(S.CANCELED, 'CANCELED') : { kind: 'ignored' };
    }
  }
}

type Op =
  | { kind: 'submit' | 'awaitConfirmation' | 'succeed' | 'reject' | 'expire' | 'cancel'; source: TransitionSource }
  | { kind: 'scheduleNextAttempt'; delayMs: number; message: string | null }
  | { kind: 'report'; report: ProviderReport; source: TransitionSource };

function execute(r: Recharge, op: Op, now: Date): ReportResult | undefined {
  switch (op.kind) {
    case 'submit':
      return void r.submit(op.source, now);
    case 'awaitConfirmation':
      return void r.awaitConfirmation('outcome unknown: socket hang up', op.source, now);
    case 'succeed':
      return void r.succeed(`tx-${now.getTime()}`, 'provider confirmed the credit', op.source, now);
    case 'reject':
      return void r.reject('NotAuthorized', 'not authorized', op.source, now);
    case 'expire':
      return void r.expire(op.source, now);
    case 'cancel':
      return void r.cancel('canceled', op.source, now);
    case 'scheduleNextAttempt':
      return void r.scheduleNextAttempt(new Date(now.getTime() + op.delayMs), now, op.message);
    case 'report':
      return r.applyProviderReport(op.report, op.source, now);
  }
}

/** Every field of the aggregate (not its buffer of unsaved transitions). */
function snapshot(r: Recharge): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'unsaved' && k !== 'unsavedDiscrepancies'));
}

const describeOp = (op: Op): string =>
  op.kind === 'report'
    ? `report(${op.report.status}${op.report.failureCode ? `/${op.report.failureCode}` : ''}, ${op.source})`
    : op.kind === 'scheduleNextAttempt'
      ? `scheduleNextAttempt(+${op.delayMs}ms)`
      : `${op.kind}(${op.source})`;

/** Plain checks in the hot loop (jest's expect is far slower than the aggregate under test). */
function ensure(ok: boolean, message: () => string): void {
  if (!ok) throw new Error(message());
}
function same(actual: unknown, expected: unknown, message: () => string): void {
  if (!isDeepStrictEqual(actual, expected))
    throw new Error(`${message()}\n  expected ${show(expected)}\n  actual   ${show(actual)}`);
}
const show = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));

/** One step: advance the clock, run the op on aggregate and model, compare, check the invariants. */
function step(m: Model, real: Real, op: Op, advanceMs: number): void {
  const { r } = real;
  m.nowMs += advanceMs;
  const now = new Date(m.nowMs);
  const before = snapshot(r);
  const expected = decide(m, op);

  let result: ReportResult | undefined;
  let refused = false;
  try {
    result = execute(r, op, now);
  } catch (err) {
    if (!(err instanceof DomainError) || err.code !== 'INVALID_STATE') throw err;
    refused = true;
  }
  const pulled = r.pullTransitions();
  const discrepancies = r.pullDiscrepancies().map((d) => d.kind);
  const where = `${describeOp(op)} from ${m.state}${m.failureCode ? `(${m.failureCode})` : ''}`;

  // 1. The aggregate does what the contract's table says, no more and no less.
  switch (expected.kind) {
    case 'refused':
      if (!refused) throw new Error(`${where}: expected a refusal, got ${result ?? 'no error'} (state now ${r.state})`);
      break;
    case 'duplicate':
    case 'ignored':
    case 'discrepancy':
      if (refused || result !== expected.kind)
        throw new Error(`${where}: expected '${expected.kind}', got ${refused ? 'a refusal' : result}`);
      break;
    case 'unchanged-state':
    case 'applied':
      if (refused) throw new Error(`${where}: expected it to be accepted, it was refused`);
      if (op.kind === 'report' && result !== 'applied') throw new Error(`${where}: expected 'applied', got ${result}`);
  }

  // A provider success is never dropped: exactly the expected discrepancy, and none otherwise.
  same(
    discrepancies,
    expected.kind === 'discrepancy' ? [expected.discrepancy] : [],
    () => `${where}: discrepancies kept`,
  );

  // 2. Refused commands and no-effect reports change nothing at all.
  if (
    expected.kind === 'refused' ||
    expected.kind === 'duplicate' ||
    expected.kind === 'ignored' ||
    expected.kind === 'discrepancy'
  ) {
    same(pulled, [], () => `${where}: recorded a transition although it had no effect`);
    same(snapshot(r), before, () => `${where}: changed the aggregate although it had no effect`);
  }

  // 3. Every recorded transition is in ALLOWED_TRANSITIONS, from the state it really left.
  if (expected.kind === 'applied') {
    if (pulled.length !== 1)
      throw new Error(`${where}: expected exactly one transition, got ${JSON.stringify(pulled)}`);
    const [t] = pulled as [RechargeTransition];
    same(
      { rechargeId: t.rechargeId, from: t.from, to: t.to, source: t.source, at: t.at, correction: t.correction },
      {
        rechargeId: r.id,
        from: m.state,
        to: expected.to,
        source: (op as { source: TransitionSource }).source,
        at: now,
        correction: expected.correction,
      },
      () => `${where}: wrong transition recorded`,
    );
    if (!ALLOWED_TRANSITIONS[t.from!].includes(t.to))
      throw new Error(`${where}: recorded ${t.from} → ${t.to}, not in ALLOWED_TRANSITIONS`);
    // FAILED → SUCCEEDED only when the failure was our own TIMEOUT, and then always as a correction.
    if (t.from === S.FAILED && (m.failureCode !== 'TIMEOUT' || !t.correction))
      throw new Error(`${where}: FAILED(${m.failureCode}) → ${t.to}`);
    m.state = expected.to;
    m.failureCode = expected.failureCode;
    if (expected.to === S.SUBMITTED) m.everSubmitted = true;
    same(r.updatedAt, now, () => `${where}: updatedAt`);
  } else if (pulled.length > 0) {
    throw new Error(`${where}: no transition expected, got ${JSON.stringify(pulled)}`);
  }
  if (expected.kind === 'unchanged-state') {
    m.attempts += 1;
    same(r.nextAttemptAt, new Date(m.nowMs + (op as { delayMs: number }).delayMs), () => `${where}: nextAttemptAt`);
  }

  // 4. SUCCEEDED and CANCELED are never left (the model agrees with the aggregate from here on).
  if ((before.state === S.SUCCEEDED || before.state === S.CANCELED) && r.state !== before.state) {
    throw new Error(`${where}: left ${String(before.state)} for ${r.state}`);
  }
  same(
    { state: r.state, failureCode: r.failureCode, attempts: r.attempts },
    { state: m.state, failureCode: m.failureCode, attempts: m.attempts },
    () => `${where}: aggregate and model disagree`,
  );

  // 5. Never credit twice: the journal is posted per SUCCEEDED transition.
  real.log.push(...pulled);
  for (const t of pulled.filter((x) => x.to === S.SUCCEEDED)) {
    const journal = journalForSucceededRecharge(r, t.at);
    ensure(journal.reduce((sum, e) => sum + signedAmount(e), 0n) === 0n, () => `${where}: unbalanced journal`);
    real.credited += journal
      .filter((e) => e.accountId === r.accountId && e.direction === 'credit')
      .reduce((sum, e) => sum + e.amountMinor, 0n);
    real.journals += 1;
  }
  const succeededTransitions = real.log.filter((t) => t.to === S.SUCCEEDED).length;
  if (succeededTransitions > 1) throw new Error(`${where}: ${succeededTransitions} transitions to SUCCEEDED`);
  same(
    real.credited,
    r.state === S.SUCCEEDED ? r.amountMinor : 0n,
    () => `${where}: customer credited ${real.credited} in state ${r.state}`,
  );
  if (r.state !== S.SUCCEEDED) {
    let journalRefused = false;
    try {
      journalForSucceededRecharge(r, now);
    } catch (err) {
      journalRefused = err instanceof DomainError;
    }
    ensure(journalRefused, () => `${where}: a ${r.state} recharge got a journal`);
  }

  // 6. completedAt is set iff final (and is the moment it became final); a final recharge is not scheduled.
  const final = FINAL_STATES.includes(r.state);
  ensure(r.isFinal() === final, () => `${where}: isFinal() disagrees with FINAL_STATES`);
  if (final !== (r.completedAt !== null))
    throw new Error(`${where}: ${r.state} with completedAt ${String(r.completedAt)}`);
  if (final) {
    // The moment of the last transition into a final state (a correction moves it to the correction).
    const lastFinal = [...real.log].reverse().find((t) => FINAL_STATES.includes(t.to))!;
    same(r.completedAt, lastFinal.at, () => `${where}: completedAt is not the moment it became final`);
    if (r.nextAttemptAt !== null)
      throw new Error(`${where}: final ${r.state} recharge still scheduled at ${r.nextAttemptAt.toISOString()}`);
    ensure(
      !r.confirmationOverdue(new Date(m.nowMs + 10 * 86_400_000), 1000),
      () => `${where}: a final recharge is overdue`,
    );
  }

  // 7. The failure matches the state; submittedAt is set iff it was ever handed to the provider.
  const failureOf: Record<S, Array<FailureCode | null>> = {
    [S.CREATED]: [null],
    [S.SUBMITTED]: [null],
    [S.PENDING_CONFIRMATION]: [null],
    [S.SUCCEEDED]: [null],
    [S.FAILED]: ['PROVIDER_REJECTED', 'TIMEOUT'],
    [S.CANCELED]: ['CANCELED'],
  };
  ensure(failureOf[r.state].includes(r.failureCode), () => `${where}: ${r.state} with failure ${r.failureCode}`);
  ensure(
    (r.submittedAt !== null) === m.everSubmitted,
    () => `${where}: submittedAt ${String(r.submittedAt)} but submitted=${m.everSubmitted}`,
  );

  // 8. The stored trail is a chain: each transition starts where the previous one ended.
  for (let i = 1; i < real.log.length; i++) {
    if (real.log[i]!.from !== real.log[i - 1]!.to)
      throw new Error(`${where}: broken chain ${JSON.stringify(real.log.map((t) => [t.from, t.to]))}`);
  }
}

class StepCommand implements fc.Command<Model, Real> {
  constructor(
    readonly op: Op,
    readonly advanceMs: number,
    /** Deliver it twice in a row (at-least-once delivery, or a replica redoing the same work). */
    readonly twice: boolean,
  ) {}
  check(): boolean {
    return true; // refused commands are part of the test
  }
  run(m: Model, real: Real): void {
    step(m, real, this.op, this.advanceMs);
    if (this.twice) step(m, real, this.op, 0);
  }
  toString(): string {
    return `${describeOp(this.op)}${this.twice ? 'x2' : ''}@+${this.advanceMs}`;
  }
}

/** A batch of provider reports delivered in a shuffled order (the relay reorders). */
class ReorderedReportsCommand implements fc.Command<Model, Real> {
  constructor(readonly ops: Op[]) {}
  check(): boolean {
    return true;
  }
  run(m: Model, real: Real): void {
    for (const op of this.ops) step(m, real, op, 1);
  }
  toString(): string {
    return `reordered[${this.ops.map(describeOp).join(', ')}]`;
  }
}

const source = fc.constantFrom<TransitionSource>('dispatcher', 'webhook', 'reconciliation', 'api', 'operator');
const advance = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 5_000 }),
  fc.integer({ min: 5_000, max: 3_600_000 }),
);
// Mostly successes (what the simulator sends, duplicated and reordered), some failures and cancellations.
const report: fc.Arbitrary<ProviderReport> = fc.oneof(
  {
    arbitrary: fc.record({
      status: fc.constant('SUCCEEDED' as const),
      providerReference: fc.option(fc.stringMatching(/^tx-[0-9]{1,6}$/)),
      failureCode: fc.constant(null),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      status: fc.constant('FAILED' as const),
      providerReference: fc.constant(null),
      failureCode: fc.option(fc.constantFrom('NotAuthorized', 'NotApplicable', 'ParameterError')),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      status: fc.constant('CANCELED' as const),
      providerReference: fc.constant(null),
      failureCode: fc.option(fc.constant('Canceled')),
    }),
    weight: 1,
  },
);
const reportOp: fc.Arbitrary<Op> = fc.record({
  kind: fc.constant('report' as const),
  report,
  source: fc.constantFrom<TransitionSource>('webhook', 'reconciliation', 'dispatcher'),
});
// Weighted towards what moves a recharge forward, so most runs get past CREATED and many reach
// every final state and the FAILED(TIMEOUT) → SUCCEEDED correction; cancel is rare or it ends most runs at once.
const transitionKind = fc.oneof(
  { arbitrary: fc.constant('submit' as const), weight: 4 },
  { arbitrary: fc.constant('awaitConfirmation' as const), weight: 3 },
  { arbitrary: fc.constant('succeed' as const), weight: 2 },
  { arbitrary: fc.constant('reject' as const), weight: 1 },
  { arbitrary: fc.constant('expire' as const), weight: 2 },
  { arbitrary: fc.constant('cancel' as const), weight: 1 },
);
const transitionOp: fc.Arbitrary<Op> = fc.record({ kind: transitionKind, source });
const scheduleOp: fc.Arbitrary<Op> = fc.record({
  kind: fc.constant('scheduleNextAttempt' as const),
  delayMs: fc.integer({ min: 0, max: 60_000 }),
  message: fc.option(fc.constant('retrying: Throttling.User'), { nil: null }) as fc.Arbitrary<string | null>,
});
const commands = [
  fc.tuple(transitionOp, advance, fc.boolean()).map(([op, ms, twice]) => new StepCommand(op, ms, twice)),
  fc.tuple(transitionOp, advance).map(([op, ms]) => new StepCommand(op, ms, false)),
  fc.tuple(reportOp, advance, fc.boolean()).map(([op, ms, twice]) => new StepCommand(op, ms, twice)),
  fc.tuple(scheduleOp, advance).map(([op, ms]) => new StepCommand(op, ms, false)),
  fc.array(reportOp, { minLength: 2, maxLength: 5 }).map((ops) => new ReorderedReportsCommand(ops)),
];

const start = new Date('2026-11-25T12:00:00Z');
const initial = fc.record({
  amount: fc.bigInt({ min: 1n, max: 100_000_000n }),
  currency: fc.constantFrom<Currency>(...CURRENCIES),
  accountId: fc.stringMatching(/^[1-9][0-9]{0,19}$/),
});

describe('Recharge aggregate under random command and report sequences (property)', () => {
  beforeAll(() => {
    console.log(
      `property seed ${SEED}, numRuns ${RUNS}, up to ${MAX_COMMANDS} commands per run (replay: FAULT_SEED=${SEED})`,
    );
  });

  it('keeps the transition rules and never credits twice', () => {
    const seen = { runs: 0, steps: 0, finalStates: {} as Record<string, number>, corrections: 0 };
    fc.assert(
      fc.property(initial, fc.commands(commands, { maxCommands: MAX_COMMANDS }), (init, cmds) => {
        const r = Recharge.create(
          {
            id: 'rch_prop',
            clientId: 'cli_prop',
            idempotencyKey: 'k',
            requestFingerprint: 'f',
            accountId: init.accountId,
            amount: Money.of(init.amount, init.currency),
            orderReference: null,
            metadata: {},
            callbackUrl: null,
          },
          start,
        );
        const real: Real = { r, log: r.pullTransitions(), credited: 0n, journals: 0 };
        expect(real.log).toEqual([expect.objectContaining({ from: null, to: S.CREATED, source: 'api', at: start })]);
        const model: Model = {
          state: S.CREATED,
          failureCode: null,
          attempts: 0,
          nowMs: start.getTime(),
          everSubmitted: false,
        };
        fc.modelRun(() => ({ model, real }), cmds);
        seen.runs += 1;
        seen.steps += real.log.length;
        seen.finalStates[r.state] = (seen.finalStates[r.state] ?? 0) + 1;
        seen.corrections += real.log.filter((t) => t.correction).length;
        ensure(real.journals <= 1, () => `${real.journals} journals posted`);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    console.log(
      `property: ${seen.runs} runs passed, ${seen.steps} transitions recorded, end states ${JSON.stringify(seen.finalStates)}, ${seen.corrections} FAILED(TIMEOUT)→SUCCEEDED corrections`,
    );
    // The generator must actually reach the interesting corners, or the property proves little.
    expect(seen.corrections).toBeGreaterThan(0);
    for (const state of [S.SUCCEEDED, S.FAILED, S.CANCELED]) expect(seen.finalStates[state] ?? 0).toBeGreaterThan(0);
  });
});
