import { randomBytes } from 'node:crypto';
import { Client } from '../src/clients/domain/client';
import { ConfigError, loadConfig } from './app-config';

const secret = (bytes: number) => `whsec_${randomBytes(bytes).toString('base64')}`;

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
    const [a, b] = [secret(32), secret(24)];
    const c = loadConfig({
      CALLBACK_ALLOWED_HOSTS: 'a.example.com, *.hooks.test',
      PROVIDER_WEBHOOK_SECRETS: `${a},${b}`,
    });
    expect(c.callbackAllowedHosts).toEqual(['a.example.com', '*.hooks.test']);
    expect(c.providerWebhookSecrets).toEqual([a, b]);
  });

  describe('CALLBACK_ALLOWED_HOSTS wildcards need two labels after "*."', () => {
    it.each(['*.com', '*.localhost', '*', '*.', '*.*.example.com', 'evil.com/path', 'a.*.example.com'])(
      '%s is a config error',
      (entry) => {
        expect(() => loadConfig({ CALLBACK_ALLOWED_HOSTS: `hooks.example.com,${entry}` })).toThrow(
          /CALLBACK_ALLOWED_HOSTS.*at least two labels after "\*\."/,
        );
      },
    );
    it.each(['*.example.com', '*.hooks.example.co.uk', 'hooks.example.com', 'localhost', '127.0.0.1'])(
      '%s is accepted',
      (entry) => {
        expect(loadConfig({ CALLBACK_ALLOWED_HOSTS: entry }).callbackAllowedHosts).toEqual([entry]);
      },
    );
  });

  it('CALLBACK_ALLOW_PRIVATE_NETWORKS is false unless set to true', () => {
    expect(loadConfig({}).callbackAllowPrivateNetworks).toBe(false);
    expect(loadConfig({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true' }).callbackAllowPrivateNetworks).toBe(true);
    expect(loadConfig({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'false' }).callbackAllowPrivateNetworks).toBe(false);
    expect(() => loadConfig({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'yes' })).toThrow(/CALLBACK_ALLOW_PRIVATE_NETWORKS/);
  });

  describe('PROVIDER_WEBHOOK_SECRETS entries hold at least 24 random bytes', () => {
    it.each([
      ["the issue's example", 'whsec_AA=='],
      ['4 bytes', 'whsec_dGVzdA=='],
      ['23 random bytes', secret(23)],
      ['32 equal bytes', `whsec_${Buffer.alloc(32, 7).toString('base64')}`],
      ['a two-byte pattern', `whsec_${Buffer.from('ab'.repeat(16)).toString('base64')}`],
      ['not base64', 'whsec_not base64!'],
    ])('%s is a config error that does not echo the secret', (_label, weak) => {
      const env = { PROVIDER_WEBHOOK_SECRETS: `${secret(32)},${weak}` };
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(/PROVIDER_WEBHOOK_SECRETS/);
      let message = '';
      try {
        loadConfig(env);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).not.toContain(weak.slice(6));
    });

    it('24 and 32 random bytes pass', () => {
      expect(
        loadConfig({ PROVIDER_WEBHOOK_SECRETS: `${secret(24)},${secret(32)}` }).providerWebhookSecrets,
      ).toHaveLength(2);
    });

    it("clients' webhook secrets are generated with 32 random bytes", () => {
      const { client } = Client.register('cli_1', 'c', ['*'], new Date());
      expect(Buffer.from(client.webhookSecret.slice('whsec_'.length), 'base64')).toHaveLength(32);
      expect(() => loadConfig({ PROVIDER_WEBHOOK_SECRETS: client.webhookSecret })).not.toThrow();
    });
  });

  it('METRICS_PORT moves /metrics off the API port and must differ from PORT', () => {
    expect(loadConfig({}).metricsPort).toBeNull();
    expect(loadConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(() => loadConfig({ PORT: '3000', METRICS_PORT: '3000' })).toThrow(/METRICS_PORT must differ from PORT/);
  });
});
