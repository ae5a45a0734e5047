/**
 * An Alibaba Cloud account UID as the service accepts it: a decimal string of 1–20 digits without
 * leading zeros. The ledger is keyed by this string, so only one spelling per account may exist:
 * "0123" would open a second ledger for account 123. Kept a string because 16-digit UIDs exceed
 * 2^53. Every place an account id comes in (request bodies, query and path parameters, a client's
 * allowed accounts) checks it with this one rule.
 */
export const ACCOUNT_ID_PATTERN = /^[1-9][0-9]{0,19}$/;

/** How the rule reads in an error message. */
export const ACCOUNT_ID_RULE = 'a decimal string of 1–20 digits without leading zeros';

export const isAccountId = (value: unknown): value is string =>
  typeof value === 'string' && ACCOUNT_ID_PATTERN.test(value);
