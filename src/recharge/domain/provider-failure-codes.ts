/**
 * FailureCodes with which the provider reports an attempt that failed on its side and is worth
 * retrying: an internal error, an "unknown error" (-1101), flow control. Such a report does not end
 * the recharge: the credit was not applied by that attempt, and sending the same OutBizId again is
 * how it gets applied (the provider applies an OutBizId at most once).
 */
const RETRYABLE_FAILURE_CODES: readonly RegExp[] = [
  /^InternalError$/i,
  /^-1101$/,
  /^CreditInnerError$/i,
  /^UndefinedError$/i,
  /^Throttling/i,
  /^ServiceUnavailable/i,
];

export const isRetryableProviderFailure = (code: string | null): boolean =>
  code !== null && RETRYABLE_FAILURE_CODES.some((pattern) => pattern.test(code.trim()));
