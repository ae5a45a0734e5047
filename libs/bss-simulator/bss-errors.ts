/**
 * Errors the simulated gateway and BSS business layer answer with. Codes, statuses and messages are
 * the ones observed on the real gateway (reference §3, §4, §5) so client error handling is exercised
 * against realistic bodies.
 */
export class BssError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const bssErrors = {
  missingParameter: (name: string) =>
    new BssError(
      400,
      'MissingParameter',
      `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
    ),
  apiNotFound: () =>
    new BssError(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.'),
  invalidCommonParameter: (name: string) =>
    new BssError(400, 'InvalidParameter', `The specified parameter "${name}" is not valid.`),
  accessKeyNotFound: () => new BssError(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.'),
  timestampMalformed: () =>
    new BssError(400, 'InvalidTimeStamp.Format', 'Specified time stamp or date value is not well formatted.'),
  timestampExpired: () =>
    new BssError(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.'),
  signatureMismatch: (serverStringToSign: string) =>
    new BssError(
      400,
      'SignatureDoesNotMatch',
      `Specified signature is not matched with our calculation. server string to sign is:${serverStringToSign}`,
    ),
  nonceUsed: () => new BssError(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.'),
  throttled: (httpStatus: number, retryAfterMs?: number) =>
    new BssError(
      httpStatus,
      'Throttling.User',
      'Request was denied due to user flow control.',
      retryAfterMs === undefined ? {} : { 'x-acs-retry-after': String(retryAfterMs) },
    ),
  serviceUnavailable: (httpStatus: number) =>
    new BssError(httpStatus, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.'),
  notAuthorized: () => new BssError(400, 'NotAuthorized', 'This API is not authorized for caller.'),
  notApplicable: () => new BssError(400, 'NotApplicable', 'This API is not applicable for caller.'),
  parameterError: () => new BssError(400, 'ParameterError', 'Missing the must parameter.'),
  /**
   * A value the operation cannot use. The reseller error tables know only ParameterError (the
   * invented InvalidParameter is listed for QueryAccountBalance alone); the message is ours.
   */
  invalidValue: (name: string) => new BssError(400, 'ParameterError', `The parameter "${name}" is not valid.`),
  recordExists: () => new BssError(400, '-303', 'Record is exists already.'),
  recordNotExists: () => new BssError(400, '-304', 'Record is not exists.'),
  // Alibaba does not document what a reused OutBizId with other parameters returns; this code is ours.
  idempotentMismatch: () =>
    new BssError(400, 'IdempotentParameterMismatch', 'The OutBizId was already used with different parameters.'),
  undefinedError: () =>
    new BssError(500, 'UndefinedError', 'The request processing has failed due to some unknown error.'),
};

/**
 * Errors a fault rule may inject by code: the documented business errors of the reseller
 * operations (ChangeResellerConsumeAmount: NotApplicable, NotAuthorized, InternalError,
 * ParameterError, -1101, UndefinedError, and CreditInnerError from an older page; -303/-304 from
 * the sibling operations), our answer for a reused OutBizId with other parameters, and the
 * gateway's rejections that a key rotation or clock skew between two sends would bring.
 */
export const INJECTABLE_ERRORS: Readonly<Record<string, { status: number; message: string }>> = {
  '-1101': { status: 400, message: 'The request processing has failed due to some unknown error.' },
  InternalError: {
    status: 400,
    message: 'The request processing has failed due to some unknown error, exception or failure.',
  },
  // Some pages list it as 400, others as 500: `status` on the rule picks.
  CreditInnerError: { status: 500, message: 'This interface has some error. Please try again.' },
  UndefinedError: { status: 500, message: 'The request processing has failed due to some unknown error.' },
  NotApplicable: { status: 400, message: 'This API is not applicable for caller.' },
  NotAuthorized: { status: 400, message: 'This API is not authorized for caller.' },
  ParameterError: { status: 400, message: 'Missing the must parameter.' },
  '-303': { status: 400, message: 'Record is exists already.' },
  '-304': { status: 400, message: 'Record is not exists.' },
  IdempotentParameterMismatch: { status: 400, message: 'The OutBizId was already used with different parameters.' },
  'InvalidAccessKeyId.NotFound': { status: 404, message: 'Specified access key is not found.' },
  'InvalidTimeStamp.Expired': { status: 400, message: 'Specified time stamp or date value is expired.' },
  SignatureDoesNotMatch: { status: 400, message: 'Specified signature is not matched with our calculation.' },
};

export function injectedError(code: string, status?: number): BssError {
  const known = INJECTABLE_ERRORS[code];
  if (!known) throw new Error(`no injectable error ${code}`);
  return new BssError(status ?? known.status, code, known.message);
}
