import { isRetryableProviderFailure } from './provider-failure-codes';

describe('isRetryableProviderFailure', () => {
  it.each([
    'InternalError',
    '-1101',
    'CreditInnerError',
    'UndefinedError',
    'Throttling',
    'Throttling.User',
    'ServiceUnavailable',
  ])('%s is retryable at the provider', (code) => expect(isRetryableProviderFailure(code)).toBe(true));

  it.each([
    'NotAuthorized',
    'NotApplicable',
    'ParameterError',
    'InsufficientQuota',
    '-304',
    '-11010',
    'XInternalError',
    '',
  ])('%s is not', (code) => expect(isRetryableProviderFailure(code)).toBe(false));

  it('no code is not retryable', () => expect(isRetryableProviderFailure(null)).toBe(false));
});
