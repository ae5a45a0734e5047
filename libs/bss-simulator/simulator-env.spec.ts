import { simulatorOptionsFromEnv } from './simulator-env';

describe('simulatorOptionsFromEnv', () => {
  it('uses the documented defaults', () => {
    expect(simulatorOptionsFromEnv({})).toEqual({
      port: 8089,
      host: '127.0.0.1',
      credentials: [{ accessKeyId: 'sim-access-key-id', accessKeySecret: 'sim-access-key-secret' }],
      rateLimitPerSecond: 10,
      throttleHttpStatus: 400,
      latencyMs: 0,
      seed: 1,
      faults: [],
    });
  });

  it('reads every variable', () => {
    const options = simulatorOptionsFromEnv({
      SIMULATOR_PORT: '0',
      SIMULATOR_ACCESS_KEY_ID: 'id',
      SIMULATOR_ACCESS_KEY_SECRET: 'secret',
      SIMULATOR_RATE_LIMIT_RPS: '{"ChangeResellerConsumeAmount":5}',
      SIMULATOR_LATENCY_MS: '50',
      SIMULATOR_NOTIFY_URL: 'http://127.0.0.1:3000/webhooks/alibaba-cloud',
      SIMULATOR_WEBHOOK_SECRET: 'whsec_c2VjcmV0',
      SIMULATOR_NOTIFY_DUPLICATE: 'true',
      SIMULATOR_FAULTS: '[{"fault":"throttle","count":1}]',
      SIMULATOR_SITE: 'intl',
      SIMULATOR_REPEAT_OUT_BIZ_ID: 'error:IdempotentParameterMismatch',
      SIMULATOR_ACCOUNTS: '[{"ownerId":"1234567890123456","quota":"500.00","spendPerMinute":"30.00"}]',
    });
    expect(options).toMatchObject({
      port: 0,
      credentials: [{ accessKeyId: 'id', accessKeySecret: 'secret' }],
      rateLimitPerSecond: { ChangeResellerConsumeAmount: 5 },
      latencyMs: 50,
      faults: [{ fault: 'throttle', count: 1 }],
      site: 'intl',
      repeatOutBizId: { answer: 'error', code: 'IdempotentParameterMismatch' },
      accounts: [{ ownerId: '1234567890123456', quota: '500.00', spendPerMinute: '30.00' }],
      notify: {
        url: 'http://127.0.0.1:3000/webhooks/alibaba-cloud',
        secret: 'whsec_c2VjcmV0',
        duplicate: true,
        outOfOrder: false,
      },
    });
  });

  it.each([
    ['first', { answer: 'first' }],
    ['fresh', { answer: 'fresh' }],
    ['error', { answer: 'error', code: '-303' }],
  ])('SIMULATOR_REPEAT_OUT_BIZ_ID=%s', (text, answer) => {
    expect(simulatorOptionsFromEnv({ SIMULATOR_REPEAT_OUT_BIZ_ID: text }).repeatOutBizId).toEqual(answer);
  });

  it.each([
    [{ SIMULATOR_PORT: 'eighty' }, /SIMULATOR_PORT/],
    [{ SIMULATOR_RATE_LIMIT_RPS: '{"x":-1}' }, /SIMULATOR_RATE_LIMIT_RPS/],
    [{ SIMULATOR_FAULTS: '[{' }, /SIMULATOR_FAULTS is not valid JSON/],
    [{ SIMULATOR_FAULTS: '[{"fault":"nope"}]' }, /fault must be one of/],
    [{ SIMULATOR_NOTIFY_URL: 'http://x' }, /must be set together/],
    [{ SIMULATOR_SITE: 'mars' }, /SIMULATOR_SITE/],
    [{ SIMULATOR_REPEAT_OUT_BIZ_ID: 'error:Nope' }, /SIMULATOR_REPEAT_OUT_BIZ_ID/],
    [{ SIMULATOR_REPEAT_OUT_BIZ_ID: 'again' }, /SIMULATOR_REPEAT_OUT_BIZ_ID/],
    [{ SIMULATOR_ACCOUNTS: '{"ownerId":"1"}' }, /SIMULATOR_ACCOUNTS must be a JSON array/],
    [{ SIMULATOR_ACCOUNTS: '[{"ownerId":"1","quota":5}]' }, /SIMULATOR_ACCOUNTS must be a JSON array/],
  ])('rejects %p', (env, message) => {
    expect(() => simulatorOptionsFromEnv(env)).toThrow(message);
  });
});
