import { ConfigError, loadConfig } from './app-config';

describe('loadConfig', () => {
  it('applies the contract defaults and falls back to the simulator loudly', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      provider: 'simulator',
      providerMaxRps: 10,
      reconcileIntervalMs: 30000,
      maxRechargeAmount: 100000000,
      rulesEnabled: true,
      ruleFailuresBeforeDisable: 3,
    });
    expect(c.simulatorEmbedded).toBe(true);
    expect(c.alibabaCloud.accessKeyId).toBe('sim-access-key-id');
    expect(c.warnings.join()).toMatch(/simulator/);
  });

  it('chooses Alibaba Cloud when keys are set', () => {
    const c = loadConfig({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'id', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'secret' });
    expect(c.provider).toBe('alibaba-cloud');
    expect(c.simulatorEmbedded).toBe(false);
    expect(c.alibabaCloud.endpoint).toBe('https://business.aliyuncs.com');
    expect(c.warnings).toEqual([]);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PROVIDER_MAX_RPS: '0' }, 'PROVIDER_MAX_RPS'],
    [{ PROVIDER: 'aws' }, 'PROVIDER'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ PROVIDER_WEBHOOK_SECRETS: 'plain' }, 'PROVIDER_WEBHOOK_SECRETS'],
    [{ ALIBABA_CLOUD_BSS_ENDPOINT: 'ftp://x' }, 'ALIBABA_CLOUD_BSS_ENDPOINT'],
    [{ PROVIDER: 'alibaba-cloud' }, 'ALIBABA_CLOUD_ACCESS_KEY_ID'],
    [{ RULES_ENABLED: 'yes' }, 'RULES_ENABLED'],
    [{ RULE_FAILURES_BEFORE_DISABLE: '0' }, 'RULE_FAILURES_BEFORE_DISABLE'],
  ])('names the bad variable %j', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });

  it('warns about plain http to a non-loopback endpoint only', () => {
    expect(loadConfig({ ALIBABA_CLOUD_BSS_ENDPOINT: 'http://127.0.0.1:8089' }).warnings.join()).not.toMatch(
      /unencrypted/,
    );
    expect(loadConfig({ ALIBABA_CLOUD_BSS_ENDPOINT: 'http://bss.internal:80' }).warnings.join()).toMatch(/unencrypted/);
  });

  it('parses lists', () => {
    const c = loadConfig({
      CALLBACK_ALLOWED_HOSTS: 'a.example.com, *.hooks.test',
      PROVIDER_WEBHOOK_SECRETS: 'whsec_AAAA,whsec_BBBB',
    });
    expect(c.callbackAllowedHosts).toEqual(['a.example.com', '*.hooks.test']);
    expect(c.providerWebhookSecrets).toEqual(['whsec_AAAA', 'whsec_BBBB']);
  });
});
