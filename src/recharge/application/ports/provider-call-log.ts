/** One call to the provider, as kept for operators: the evidence behind every recharge outcome. */
export interface ProviderCall {
  /** Null for calls that are not about one recharge (quota queries). */
  rechargeId: string | null;
  accountId: string | null;
  /** The provider's action name, e.g. ChangeResellerConsumeAmount. */
  action: string;
  /** The recharge's send number (1 for the first send); null outside credits. */
  attempt: number | null;
  /** When the call started. */
  at: Date;
  /** succeeded | rejected | retryable | unknown | conflict | error. */
  outcome: string;
  providerCode: string | null;
  /** Null when no HTTP answer came (timeout, reset, connection refused). */
  httpStatus: number | null;
  durationMs: number;
  /** The provider's RequestId, when it answered with one. */
  requestId: string | null;
}

/** Append-only: a row for every provider call, written as the call ends. */
export abstract class ProviderCallLog {
  abstract record(call: ProviderCall): Promise<void>;
  /** Oldest first. */
  abstract forRecharge(rechargeId: string): Promise<ProviderCall[]>;
}
