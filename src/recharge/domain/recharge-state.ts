export enum RechargeState {
  CREATED = 'CREATED',
  SUBMITTED = 'SUBMITTED',
  PENDING_CONFIRMATION = 'PENDING_CONFIRMATION',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  CANCELED = 'CANCELED',
}

export const ALL_STATES = Object.values(RechargeState);

/** The public `status` of each state (docs/states.md). */
export const STATUS_OF: Record<RechargeState, RechargeStatus> = {
  [RechargeState.CREATED]: 'accepted',
  [RechargeState.SUBMITTED]: 'in_progress',
  [RechargeState.PENDING_CONFIRMATION]: 'in_progress',
  [RechargeState.SUCCEEDED]: 'succeeded',
  [RechargeState.FAILED]: 'failed',
  [RechargeState.CANCELED]: 'canceled',
};

export const STATUSES = ['accepted', 'in_progress', 'succeeded', 'failed', 'canceled'] as const;
export type RechargeStatus = (typeof STATUSES)[number];

export const statesOfStatus = (status: RechargeStatus): RechargeState[] =>
  ALL_STATES.filter((state) => STATUS_OF[state] === status);

/** States from which the dispatcher or the reconciler still has work to do. */
export const OPEN_STATES: readonly RechargeState[] = [
  RechargeState.CREATED,
  RechargeState.SUBMITTED,
  RechargeState.PENDING_CONFIRMATION,
];

/** FAILED is final for callers but can still be corrected to SUCCEEDED if our own TIMEOUT was wrong. */
export const FINAL_STATES: readonly RechargeState[] = [
  RechargeState.SUCCEEDED,
  RechargeState.FAILED,
  RechargeState.CANCELED,
];

export type TransitionSource = 'api' | 'dispatcher' | 'webhook' | 'reconciliation' | 'operator';

/**
 * Contract section 3, the only copy of the transition table. FAILED→SUCCEEDED carries an extra
 * condition (the failure was our own TIMEOUT) that the aggregate checks.
 */
export const ALLOWED_TRANSITIONS: Record<RechargeState, readonly RechargeState[]> = {
  [RechargeState.CREATED]: [RechargeState.SUBMITTED, RechargeState.CANCELED],
  [RechargeState.SUBMITTED]: [
    RechargeState.SUCCEEDED,
    RechargeState.FAILED,
    RechargeState.PENDING_CONFIRMATION,
    RechargeState.CANCELED,
  ],
  [RechargeState.PENDING_CONFIRMATION]: [RechargeState.SUCCEEDED, RechargeState.FAILED, RechargeState.CANCELED],
  [RechargeState.FAILED]: [RechargeState.SUCCEEDED],
  [RechargeState.SUCCEEDED]: [],
  [RechargeState.CANCELED]: [],
};
