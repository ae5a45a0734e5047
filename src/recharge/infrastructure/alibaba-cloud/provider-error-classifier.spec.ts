import { classifyProviderError, scrubProviderMessage } from './provider-error-classifier';

const SIGNED_URL =
  'https://business.aliyuncs.com/?AccessKeyId=LTAI5tSecretish&Action=ChangeResellerConsumeAmount&Amount=49.99' +
  '&OwnerId=1234567890123456&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D&SignatureNonce=abc';

/** What pop-core throws when the body's Code is not a success code. */
const popError = (code: string, message = 'boom', headers: Record<string, string> = {}) =>
  Object.assign(new Error(`${message}, URL: ${SIGNED_URL}`), {
    name: `${code}Error`,
    code,
    data: { Code: code, Message: message, RequestId: 'R-1' },
    url: SIGNED_URL,
    entry: { url: SIGNED_URL, request: { headers: {} }, response: { statusCode: 400, headers } },
  });

const netError = (code: string, message: string, syscall?: string) =>
  Object.assign(new Error(`${message}POST https://business.aliyuncs.com/ failed.`), { code, syscall });

describe('classifyProviderError', () => {
  it.each([
    ['Throttling', 'retryable'],
    ['Throttling.User', 'retryable'],
    ['Throttling.Api', 'retryable'],
    ['Throttling.Whatever', 'retryable'],
    ['ServiceUnavailable', 'retryable'],
    ['InternalError', 'retryable'],
    ['CreditInnerError', 'retryable'],
    ['UndefinedError', 'retryable'],
    ['-1101', 'retryable'],
    ['SignatureNonceUsed', 'retryable'],
    ['SomethingNobodyDocumented', 'retryable'],
    ['ServiceTimeout', 'unknown'],
    ['Gateway.TimedOut', 'unknown'],
    ['SignatureDoesNotMatch', 'rejected'],
    ['IncompleteSignature', 'rejected'],
    ['InvalidAccessKeyId.NotFound', 'rejected'],
    ['InvalidAccessKeyId.Inactive', 'rejected'],
    ['InvalidSecurityToken.Expired', 'rejected'],
    ['InvalidTimeStamp.Expired', 'rejected'],
    ['IllegalTimestamp', 'rejected'],
    ['Forbidden.RAM', 'rejected'],
    ['NoPermission', 'rejected'],
    ['NotApplicable', 'rejected'],
    ['NotAuthorized', 'rejected'],
    ['InvalidOwner', 'rejected'],
    ['ParameterError', 'rejected'],
    ['InvalidParameter', 'rejected'],
    ['MissingParameter', 'rejected'],
    ['InvalidAction.NotFound', 'rejected'],
    ['InvalidApi.NotFound', 'rejected'],
    ['-304', 'rejected'],
    // The OutBizId exists or was used with other parameters: never a failure.
    ['IdempotentParameterMismatch', 'conflict'],
    ['IdempotentRequestAlreadyProcessed', 'conflict'],
    ['OutBizIdAlreadyExists', 'conflict'],
    ['DuplicateOutBizId', 'conflict'],
    ['-303', 'conflict'],
  ])('provider code %s → %s, code kept', (code, kind) => {
    const outcome = classifyProviderError(popError(code));
    expect(outcome).toEqual(
      expect.objectContaining({ kind, providerCode: code, message: 'boom', requestId: 'R-1', httpStatus: 400 }),
    );
  });

  it.each(['Throttling.User', 'SignatureNonceUsed'])('%s was refused before BSS: retryable and not applied', (code) => {
    expect(classifyProviderError(popError(code))).toMatchObject({ kind: 'retryable', notApplied: true });
  });

  it.each(['InternalError', '-1101', 'CreditInnerError', 'UndefinedError', 'ServiceUnavailable'])(
    '%s is retryable but may have been applied (no notApplied mark)',
    (code) => {
      expect(classifyProviderError(popError(code))).not.toHaveProperty('notApplied');
    },
  );

  it('keeps a numeric Code as a string', () => {
    const err = Object.assign(new Error('x'), { data: { Code: -304 } });
    expect(classifyProviderError(err)).toEqual({
      kind: 'rejected',
      providerCode: '-304',
      message: 'x',
      requestId: null,
      httpStatus: null,
    });
  });

  it('reads x-acs-retry-after from the response headers pop-core attaches', () => {
    expect(classifyProviderError(popError('Throttling.User', 'flow control', { 'x-acs-retry-after': '1500' }))).toEqual(
      {
        kind: 'retryable',
        providerCode: 'Throttling.User',
        message: 'flow control',
        retryAfterMs: 1500,
        notApplied: true,
        requestId: 'R-1',
        httpStatus: 400,
      },
    );
    expect(classifyProviderError(popError('Throttling', 'x', { 'x-acs-retry-after': 'soon' }))).not.toHaveProperty(
      'retryAfterMs',
    );
  });

  it.each([
    [
      'an HTML 502/503 page',
      'retryable',
      { name: 'SyntaxError', message: "Unexpected '<'", at: 1, text: '<html><h1>503 Service Unavailable</h1></html>' },
    ],
    [
      'an HTML 504 page',
      'unknown',
      { name: 'SyntaxError', message: "Unexpected '<'", at: 1, text: '<html><h1>504 Gateway Time-out</h1></html>' },
    ],
    [
      'a read timeout',
      'unknown',
      Object.assign(new Error('ReadTimeout(5000). POST https://business.aliyuncs.com/ failed.'), {
        name: 'RequestTimeoutError',
      }),
    ],
    [
      'an idle-socket timeout',
      'unknown',
      Object.assign(new Error('ConnectTimeout: Connect https://business.aliyuncs.com/ failed.'), {
        name: 'RequestTimeoutError',
      }),
    ],
    ['a reset', 'unknown', netError('ECONNRESET', 'read ECONNRESET', 'read')],
    ['a socket hang up', 'unknown', netError('ECONNRESET', 'socket hang up')],
    ['a broken pipe', 'unknown', netError('EPIPE', 'write EPIPE', 'write')],
    ['a refused connection', 'retryable', netError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:443', 'connect')],
    [
      'an unknown host',
      'retryable',
      netError('ENOTFOUND', 'getaddrinfo ENOTFOUND business.aliyuncs.com', 'getaddrinfo'),
    ],
    ['a connect-phase timeout', 'retryable', netError('ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.1:443', 'connect')],
    ['an unforeseen error', 'unknown', new TypeError("Cannot read properties of null (reading 'Code')")],
    ['a thrown string', 'unknown', 'weird'],
  ])('%s → %s without a provider code', (_label, kind, err) => {
    const outcome = classifyProviderError(err);
    expect(outcome.kind).toBe(kind);
    expect(outcome).toHaveProperty('providerCode', null);
  });

  it('never leaks the HTML page, the signed URL or err.entry into the message', () => {
    const html = classifyProviderError({ name: 'SyntaxError', message: 'x', text: '<html>secret page</html>' });
    expect(html.message).not.toContain('secret page');
    const outcome = classifyProviderError(
      popError(
        'SignatureDoesNotMatch',
        'Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3DLTAI5tSecretish%26Action',
      ),
    );
    expect(outcome.message).toBe(
      'Specified signature is not matched with our calculation. server string to sign is: [redacted]',
    );
    expect(JSON.stringify(outcome)).not.toMatch(/LTAI5tSecretish|Signature=|OwnerId|business\.aliyuncs\.com/);
  });
});

describe('scrubProviderMessage', () => {
  it.each([
    [
      `Request was denied due to user flow control., URL: ${SIGNED_URL}`,
      'Request was denied due to user flow control.',
    ],
    [
      `connect ECONNREFUSED 1.2.3.4:443GET ${SIGNED_URL} failed.`,
      'connect ECONNREFUSED 1.2.3.4:443GET https://business.aliyuncs.com/ failed.',
    ],
    ['bad AccessKeyId=LTAI5tSecretish&Signature=abc%3D here', 'bad AccessKeyId=[redacted]&Signature=[redacted] here'],
    ['plain message', 'plain message'],
  ])('case %#', (input, expected) => {
    expect(scrubProviderMessage(input)).toBe(expected);
  });

  it('bounds the length', () => {
    expect(scrubProviderMessage('x'.repeat(5000))).toHaveLength(500);
  });
});
