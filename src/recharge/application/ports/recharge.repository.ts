import { Recharge, RechargeTransition } from '../../domain/recharge';
import { RechargeState } from '../../domain/recharge-state';
import { OperatorActionRecord } from './operator-action';
import { Page } from './page';

export interface RechargeListQuery {
  clientId: string;
  accountId?: string;
  states?: RechargeState[];
  limit: number;
  /** Exclusive: the id of the last item of the previous page. */
  after?: string;
}

export interface ClaimedRecharge {
  id: string;
  /** The claim's token: only its holder may renew or release the lease. */
  leaseOwner: string;
  /** The W3C traceparent of the request that created it, so its processing joins that trace. */
  traceContext: string | null;
}

export interface Mutation<T> {
  recharge: Recharge;
  transitions: RechargeTransition[];
  result: T;
}

export abstract class RechargeRepository {
  /**
   * Stores a new recharge and its CREATED event unless the client already used the idempotency
   * key. The unique constraint decides: a concurrent identical request waits for the first
   * transaction to commit and then receives the stored recharge with `created: false`.
   */
  abstract createIfAbsent(recharge: Recharge): Promise<{ created: boolean; recharge: Recharge }>;
  abstract findById(id: string): Promise<Recharge | null>;
  /** The recharge a client created under an idempotency key, if any. */
  abstract findByIdempotencyKey(clientId: string, idempotencyKey: string): Promise<Recharge | null>;
  abstract list(query: RechargeListQuery): Promise<Page<Recharge>>;
  abstract transitions(rechargeId: string): Promise<RechargeTransition[]>;
  /**
   * Locks the recharge row, lets `change` drive the aggregate, and stores the new state, its
   * transitions and — for a transition to SUCCEEDED — the ledger journal, all in one transaction.
   * Returns null when the recharge does not exist. `change` must be synchronous domain logic.
   * `audit`, when an operator caused the change, is appended to operator_actions in that transaction.
   */
  abstract mutate<T>(
    id: string,
    change: (recharge: Recharge) => T,
    audit?: OperatorActionRecord,
  ): Promise<Mutation<T> | null>;
  /**
   * Claims up to `limit` open recharges due at `now` for this replica (FOR UPDATE SKIP LOCKED) by
   * pushing their due time to `leaseUntil`: a replica that dies mid-call loses the lease and another
   * one re-sends the same OutBizId later.
   */
  abstract claimDue(limit: number, now: Date, leaseUntil: Date): Promise<ClaimedRecharge[]>;
  /** Claims one open recharge now, due or not (an operator's re-drive); null when final, unknown or leased. */
  abstract claimOne(id: string, now: Date, leaseUntil: Date): Promise<ClaimedRecharge | null>;
  /**
   * Pushes the claim's lease to `leaseUntil` while its holder still works on it (waiting for a rate
   * slot, calling the provider); false when the claim is no longer held (taken over, or final).
   */
  abstract renewLease(claim: ClaimedRecharge, leaseUntil: Date): Promise<boolean>;
  /**
   * Unconfirmed recharges first sent before `submittedBefore` (past the confirmation window) and
   * not leased at `now`: a recharge whose call is in flight is not expired under it.
   */
  abstract overdue(submittedBefore: Date, now: Date, limit: number): Promise<string[]>;
  /** Open recharges created before `createdBefore`: the "pending beyond SLA" figure. */
  abstract countOpenCreatedBefore(createdBefore: Date): Promise<number>;
}
