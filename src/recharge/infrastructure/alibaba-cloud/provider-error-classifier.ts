import { ProviderAnswer, ProviderOutcome } from '../../application/ports/recharge-provider';

export type ProviderFailure = Exclude<ProviderOutcome, { kind: 'succeeded' }>;
type FailureKind = ProviderFailure['kind'];

/**
 * Alibaba Cloud error codes (gateway and BSS) → outcome; `*` is a wildcard, first match wins.
 * `rejected` is only for answers that retrying cannot change and that prove this send was not
 * applied. Whether an earlier send may have been applied is the dispatcher's business: after one
 * may have reached the provider it treats a rejection of a re-send as unknown.
 */
export const PROVIDER_CODE_TABLE: ReadonlyArray<readonly [pattern: string, kind: FailureKind]> = [
  // Alibaba documents OutBizId as the idempotency key but not what a repeated one gets: an answer
  // saying it exists or differs means a credit under it may be on the books.
  ['IdempotentParameterMismatch', 'conflict'],
  ['Idempotent*', 'conflict'],
  ['*OutBizId*Exist*', 'conflict'],
  ['*Duplicate*', 'conflict'],
  ['-303', 'conflict'],
  ['Throttling*', 'retryable'],
  ['ServiceUnavailable*', 'retryable'],
  ['InternalError', 'retryable'],
  ['CreditInnerError', 'retryable'],
  ['UndefinedError', 'retryable'],
  // "-1101: failed due to some unknown error" is UndefinedError under another name; rejecting it would
  // turn a transient provider fault into a FAILED recharge that reconciliation may not undo.
  ['-1101', 'retryable'],
  // pop-core draws a fresh nonce per call, so the next attempt cannot collide again.
  ['SignatureNonceUsed', 'retryable'],
  // A gateway that timed out waiting for BSS does not know whether BSS applied the credit.
  ['*Timeout*', 'unknown'],
  ['*TimedOut*', 'unknown'],
  ['SignatureDoesNotMatch', 'rejected'],
  ['IncompleteSignature', 'rejected'],
  ['InvalidAccessKeyId*', 'rejected'],
  ['InvalidSecurityToken*', 'rejected'],
  // Our clock is outside the gateway's window; retrying within the dispatcher's budget will not fix it.
  ['InvalidTimeStamp*', 'rejected'],
  ['IllegalTimestamp', 'rejected'],
  ['Forbidden*', 'rejected'],
  ['NoPermission', 'rejected'],
  ['NotApplicable', 'rejected'],
  ['NotAuthorized', 'rejected'],
  ['InvalidOwner', 'rejected'],
  ['ParameterError', 'rejected'],
  ['InvalidParameter*', 'rejected'],
  ['MissingParameter*', 'rejected'],
  ['InvalidAction*', 'rejected'],
  ['InvalidApi*', 'rejected'],
  ['-304', 'rejected'],
];

/**
 * Refusals the gateway makes before the request reaches BSS (flow control, a replayed nonce): the
 * send certainly did nothing.
 */
const REFUSED_BEFORE_BSS = [/^Throttling/i, /^SignatureNonceUsed$/i];

const TABLE = PROVIDER_CODE_TABLE.map(([pattern, kind]) => {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.\\+?^${}()|[\]-]/g, '\\$&'))
    .join('.*');
  return { regex: new RegExp(`^${source}$`, 'i'), kind };
});

/**
 * Socket errors raised before a single request byte left (DNS, TCP connect): the credit was certainly
 * not sent, so unlike a reset or a timeout mid-request they are `retryable`, not `unknown`.
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);
const NOT_SENT_SYSCALLS = new Set(['connect', 'getaddrinfo']);

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  syscall?: unknown;
  data?: { Code?: unknown; RequestId?: unknown } | null;
  text?: unknown;
  entry?: { response?: { headers?: Record<string, unknown>; statusCode?: unknown } | null } | null;
}

/** The RequestId and HTTP status of an error answer, when there was one. */
function answerOf(e: ErrorLike): ProviderAnswer {
  const requestId = e.data && typeof e.data.RequestId === 'string' ? e.data.RequestId : null;
  const status = e.entry?.response?.statusCode;
  return { requestId, httpStatus: typeof status === 'number' ? status : null };
}

/**
 * pop-core error messages end with `, URL: <url>` (for GET the whole signed query: AccessKeyId,
 * Signature, every parameter), and SignatureDoesNotMatch echoes the server's string to sign.
 */
export function scrubProviderMessage(message: string): string {
  const cut = message.indexOf(', URL:');
  return (cut >= 0 ? message.slice(0, cut) : message)
    .replace(/string to sign is:[\s\S]*/i, 'string to sign is: [redacted]')
    .replace(/(https?:\/\/[^\s?#]*)[?#]\S*/g, '$1')
    .replace(/(AccessKeyId|Signature|SecurityToken|SignatureNonce)(=|%3D)[^&\s]*/gi, '$1$2[redacted]')
    .trim()
    .slice(0, 500);
}

/** Classifies a `Code` the provider answered with. */
export function classifyProviderCode(
  code: string,
  message: string,
  retryAfterMs?: number,
  answer: ProviderAnswer = {},
): ProviderFailure {
  // Not listed: the gateway did answer, with an error; re-sending under the same OutBizId is safe,
  // and bounding those re-sends is the dispatcher's job.
  const kind = TABLE.find((rule) => rule.regex.test(code))?.kind ?? 'retryable';
  if (kind !== 'retryable') return { kind, providerCode: code, message, ...answer };
  return {
    kind,
    providerCode: code,
    message,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(REFUSED_BEFORE_BSS.some((r) => r.test(code)) ? { notApplied: true as const } : {}),
    ...answer,
  };
}

/** Classifies whatever `RPCClient.request` threw. Never reads `err.url`/`err.entry` into a message. */
export function classifyProviderError(err: unknown): ProviderFailure {
  const e: ErrorLike = typeof err === 'object' && err !== null ? (err as ErrorLike) : {};
  const message = scrubProviderMessage(typeof e.message === 'string' ? e.message : String(err));

  // pop-core throws with the parsed body in `data` whenever the body's Code is not a success code.
  if (e.data && typeof e.data === 'object' && e.data.Code != null) {
    return classifyProviderCode(String(e.data.Code), message, retryAfter(e), answerOf(e));
  }
  // json-bigint throws this plain object for a non-JSON body: an HTML error page from a proxy. A 504
  // page means the upstream may have received the credit; other pages mean it never got that far.
  if (e.name === 'SyntaxError') {
    const page = typeof e.text === 'string' ? e.text.slice(0, 2000) : '';
    const gatewayTimeout = /\b504\b|time-?out/i.test(page);
    return {
      kind: gatewayTimeout ? 'unknown' : 'retryable',
      providerCode: null,
      message: `provider answered with a non-JSON body${gatewayTimeout ? ' (gateway timeout)' : ''}`,
      // pop-core parses before it hands back the status, so a non-JSON answer's status is lost.
      requestId: null,
      httpStatus: null,
    };
  }
  // httpx raises RequestTimeoutError for its read timer and for the socket idle timeout; the latter says
  // "ConnectTimeout" yet also fires after the request was written, so neither proves it was not sent.
  const none = { requestId: null, httpStatus: null };
  if (e.name === 'RequestTimeoutError') return { kind: 'unknown', providerCode: null, message, ...none };
  if (NOT_SENT_CODES.has(String(e.code)) || NOT_SENT_SYSCALLS.has(String(e.syscall))) {
    return { kind: 'retryable', providerCode: null, message, notApplied: true, ...none };
  }
  // ECONNRESET, socket hang up, EPIPE, anything unforeseen: the credit may have been applied.
  return { kind: 'unknown', providerCode: null, message, ...none };
}

/** The provider's `x-acs-retry-after` hint in ms; the dispatcher caps it at its retry ceiling. */
function retryAfter(e: ErrorLike): number | undefined {
  const raw = e.entry?.response?.headers?.['x-acs-retry-after'];
  const ms = typeof raw === 'string' && /^\d{1,9}$/.test(raw.trim()) ? Number(raw) : NaN;
  return Number.isSafeInteger(ms) ? ms : undefined;
}
