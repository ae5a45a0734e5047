import { Discrepancy } from '../../../src/recharge/domain/discrepancy';
import { Recharge, RechargeTransition } from '../../../src/recharge/domain/recharge';
import { FINAL_STATES, OPEN_STATES, RechargeState } from '../../../src/recharge/domain/recharge-state';
import { Page } from '../../../src/recharge/application/ports/page';
import {
  ClaimedRecharge,
  Mutation,
  RechargeListQuery,
  RechargeRepository,
} from '../../../src/recharge/application/ports/recharge.repository';

/** A deep enough copy that a change thrown away (the callback threw) leaves the stored one untouched. */
function copy(r: Recharge): Recharge {
  const c = Object.assign(new Recharge(), r);
  c.metadata = { ...r.metadata };
  c.creditParameters = r.creditParameters ? { ...r.creditParameters } : null;
  return c;
}

let leaseSeq = 0;

/**
 * RechargeRepository in memory, for use-case unit specs: same contract as the PostgreSQL adapter
 * (mutate is all-or-nothing; claims are leases; discrepancies kept once open per recharge and kind,
 * or once per notification and kind), minus the ledger and the callback outbox.
 */
export class InMemoryRechargeRepository extends RechargeRepository {
  readonly rows = new Map<string, Recharge>();
  readonly events: RechargeTransition[] = [];
  readonly discrepancies: Discrepancy[] = [];

  /** Stores a recharge as it is (a builder for tests), with no event. */
  put(r: Recharge): Recharge {
    r.pullTransitions();
    this.rows.set(r.id, copy(r));
    return r;
  }

  get(id: string): Recharge {
    const r = this.rows.get(id);
    if (!r) throw new Error(`no recharge ${id}`);
    return copy(r);
  }

  async createIfAbsent(recharge: Recharge): Promise<{ created: boolean; recharge: Recharge }> {
    const existing = [...this.rows.values()].find(
      (r) => r.clientId === recharge.clientId && r.idempotencyKey === recharge.idempotencyKey,
    );
    if (existing) return { created: false, recharge: copy(existing) };
    this.events.push(...recharge.pullTransitions());
    this.rows.set(recharge.id, copy(recharge));
    return { created: true, recharge };
  }

  async findByIdempotencyKey(clientId: string, idempotencyKey: string): Promise<Recharge | null> {
    const r = [...this.rows.values()].find((x) => x.clientId === clientId && x.idempotencyKey === idempotencyKey);
    return r ? copy(r) : null;
  }

  async findById(id: string): Promise<Recharge | null> {
    const r = this.rows.get(id);
    return r ? copy(r) : null;
  }

  async list(q: RechargeListQuery): Promise<Page<Recharge>> {
    const all = [...this.rows.values()]
      .filter((r) => r.clientId === q.clientId)
      .filter((r) => !q.accountId || r.accountId === q.accountId)
      .filter((r) => !q.states || q.states.includes(r.state))
      .filter((r) => !q.after || r.id < q.after)
      .sort((a, b) => (a.id < b.id ? 1 : -1));
    const data = all.slice(0, q.limit).map(copy);
    return { data, nextCursor: all.length > q.limit ? data[data.length - 1].id : null };
  }

  async transitions(rechargeId: string): Promise<RechargeTransition[]> {
    return this.events.filter((e) => e.rechargeId === rechargeId);
  }

  async mutate<T>(id: string, change: (recharge: Recharge) => T): Promise<Mutation<T> | null> {
    const stored = this.rows.get(id);
    if (!stored) return null;
    const recharge = copy(stored);
    const result = change(recharge);
    const transitions = recharge.pullTransitions();
    for (const d of recharge.pullDiscrepancies()) {
      const webhookId = d.evidence.webhookId;
      const duplicate = this.discrepancies.some((o) =>
        webhookId !== undefined
          ? o.kind === d.kind && o.evidence.webhookId === webhookId
          : o.rechargeId === d.rechargeId &&
            o.kind === d.kind &&
            o.acknowledgedAt === null &&
            o.evidence.webhookId === undefined,
      );
      if (!duplicate) this.discrepancies.push(d);
    }
    recharge.version += 1;
    this.events.push(...transitions);
    this.rows.set(id, copy(recharge));
    return { recharge, transitions, result };
  }

  async claimDue(limit: number, now: Date, leaseUntil: Date): Promise<ClaimedRecharge[]> {
    const leaseOwner = `lse_fake_${++leaseSeq}`;
    const due = [...this.rows.values()]
      .filter((r) => OPEN_STATES.includes(r.state) && r.nextAttemptAt !== null && r.nextAttemptAt <= now)
      .filter((r) => !r.leaseLive(now))
      .sort((a, b) => a.nextAttemptAt!.getTime() - b.nextAttemptAt!.getTime())
      .slice(0, limit);
    for (const r of due) Object.assign(r, { nextAttemptAt: leaseUntil, leaseUntil, leaseOwner });
    return due.map((r) => ({ id: r.id, leaseOwner, traceContext: null }));
  }

  async claimOne(id: string, now: Date, leaseUntil: Date): Promise<ClaimedRecharge | null> {
    const r = this.rows.get(id);
    if (!r || !OPEN_STATES.includes(r.state) || r.leaseLive(now)) return null;
    const leaseOwner = `lse_fake_${++leaseSeq}`;
    Object.assign(r, { nextAttemptAt: leaseUntil, leaseUntil, leaseOwner });
    return { id, leaseOwner, traceContext: null };
  }

  async renewLease(claim: ClaimedRecharge, leaseUntil: Date): Promise<boolean> {
    const r = this.rows.get(claim.id);
    if (!r || r.leaseOwner !== claim.leaseOwner || FINAL_STATES.includes(r.state)) return false;
    r.leaseUntil = leaseUntil;
    if (r.nextAttemptAt === null || r.nextAttemptAt < leaseUntil) r.nextAttemptAt = leaseUntil;
    return true;
  }

  async overdue(submittedBefore: Date, now: Date, limit: number): Promise<string[]> {
    return [...this.rows.values()]
      .filter((r) => r.state === RechargeState.SUBMITTED || r.state === RechargeState.PENDING_CONFIRMATION)
      .filter((r) => r.submittedAt !== null && r.submittedAt < submittedBefore && !r.leaseLive(now))
      .slice(0, limit)
      .map((r) => r.id);
  }

  async countOpenCreatedBefore(createdBefore: Date): Promise<number> {
    return [...this.rows.values()].filter((r) => OPEN_STATES.includes(r.state) && r.createdAt < createdBefore).length;
  }
}
