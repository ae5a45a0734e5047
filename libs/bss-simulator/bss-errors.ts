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
  invalidParameter: (name: string) =>
    new BssError(400, 'InvalidParameter', `The specified parameter "${name}" is not valid.`),
  recordExists: () => new BssError(400, '-303', 'Record is exists already.'),
  recordNotExists: () => new BssError(400, '-304', 'Record is not exists.'),
  // Alibaba does not document what a reused OutBizId with other parameters returns; this code is ours.
  idempotentMismatch: () =>
    new BssError(400, 'IdempotentParameterMismatch', 'The OutBizId was already used with different parameters.'),
  undefinedError: () =>
    new BssError(500, 'UndefinedError', 'The request processing has failed due to some unknown error.'),
};
