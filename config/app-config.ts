import { plainToInstance, Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';
import { webhookSecretProblem } from '../libs/shared/webhook-secret';
import { DEFAULT_RUNTIME_ROOT } from '../libs/embedded-postgres/runtime-layout';
import { DatabaseUrlError, normalizeDatabaseUrl } from '../src/database/connection-string';
import { CURRENCIES, Currency } from '../src/recharge/domain/money';

const toInt = ({ value }: { value: unknown }) =>
  value === undefined || value === '' ? undefined : /^-?\d+$/.test(String(value)) ? Number(value) : value;
const toBoolean = ({ value }: { value: unknown }) =>
  value === undefined
    ? undefined
    : value === 'true' || value === '1'
      ? true
      : value === 'false' || value === '0'
        ? false
        : value;
const toList = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : value;

/** The environment as docs/configuration.md defines it. Validated once at start; bad config exits 1. */
class Environment {
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) PORT?: number;
  /** Any form libpq accepts; checked and rewritten by normalizeDatabaseUrl in loadConfig. */
  @IsOptional() @IsString() DATABASE_URL?: string;
  @IsOptional() @IsString() DATA_DIR?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(65535) EMBEDDED_POSTGRES_PORT?: number;
  @IsOptional() @IsString() EMBEDDED_POSTGRES_ROOT?: string;
  @IsOptional() @IsIn(['alibaba-cloud', 'simulator']) PROVIDER?: 'alibaba-cloud' | 'simulator';
  @IsOptional() @IsString() ALIBABA_CLOUD_ACCESS_KEY_ID?: string;
  @IsOptional() @IsString() ALIBABA_CLOUD_ACCESS_KEY_SECRET?: string;
  @IsOptional()
  @Matches(/^https?:\/\/[^\s/]+/, { message: 'ALIBABA_CLOUD_BSS_ENDPOINT must be an http(s) URL' })
  ALIBABA_CLOUD_BSS_ENDPOINT?: string;
  @IsOptional() @IsString() ALIBABA_CLOUD_BUSINESS_TYPE?: string;
  @IsOptional() @IsString() ALIBABA_CLOUD_SOURCE?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(10000) PROVIDER_MAX_RPS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(60000) PROVIDER_MAX_TRANSIT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(120000) PROVIDER_TIMEOUT_MS?: number;
  @IsOptional()
  @Transform(toList)
  @Matches(/^whsec_[A-Za-z0-9+/=]+$/, { each: true, message: 'PROVIDER_WEBHOOK_SECRETS must be whsec_<base64> values' })
  PROVIDER_WEBHOOK_SECRETS?: string[];
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) RECONCILE_INTERVAL_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) RECONCILE_AFTER_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1000) CONFIRMATION_WINDOW_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1000) @Max(600000) DISPATCH_LEASE_MS?: number;
  @IsOptional()
  @Transform(toList)
  @Matches(/^(\*\.[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|[A-Za-z0-9.:-]+)$/, {
    each: true,
    message:
      'CALLBACK_ALLOWED_HOSTS must be hostnames or wildcards with at least two labels after "*." (*.hooks.example.com, not *.com)',
  })
  CALLBACK_ALLOWED_HOSTS?: string[];
  @IsOptional() @Transform(toBoolean) @IsBoolean() CALLBACK_ALLOW_PRIVATE_NETWORKS?: boolean;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) CALLBACK_RETRY_BASE_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(Number.MAX_SAFE_INTEGER) MAX_RECHARGE_AMOUNT?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) CLIENT_RATE_LIMIT_RPS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) AUTH_FAILURES_PER_MINUTE?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) PREFER_WAIT_MAX_PER_CLIENT?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(120000) REQUEST_TIMEOUT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) SHUTDOWN_GRACE_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) SHUTDOWN_DRAIN_DELAY_MS?: number;
  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) LOG_LEVEL?: string;
  @IsOptional() @IsIn(['auto', 'json', 'pretty']) LOG_FORMAT?: 'auto' | 'json' | 'pretty';
  @IsOptional()
  @Transform(toList)
  @IsIn(CURRENCIES as unknown as string[], { each: true })
  SUPPORTED_CURRENCIES?: Currency[];
  @IsOptional() @Transform(toBoolean) @IsBoolean() DISPATCHER_ENABLED?: boolean;
  @IsOptional() @Transform(toBoolean) @IsBoolean() MIGRATE_ON_START?: boolean;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) METRICS_PORT?: number;
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'RULES_ENABLED must be true or false' })
  RULES_ENABLED?: boolean;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100) RULE_FAILURES_BEFORE_DISABLE?: number;
}

export interface AppConfig {
  port: number;
  databaseUrl: string | null;
  dataDir: string;
  embeddedPostgresPort: number;
  /** As root, where the embedded server's files go when DATA_DIR is closed to the `postgres` user. */
  embeddedPostgresRoot: string;
  provider: 'alibaba-cloud' | 'simulator';
  alibabaCloud: {
    endpoint: string;
    accessKeyId: string;
    accessKeySecret: string;
    businessType: string;
    source: string;
    timeoutMs: number;
  };
  /** PROVIDER=simulator without an endpoint: the service starts the BSS simulator in-process. */
  simulatorEmbedded: boolean;
  providerMaxRps: number;
  /**
   * The longest a request takes to reach the provider after this service starts it, if the
   * operator vouches for one; null (the default): nothing is assumed and the rate limit holds
   * whatever the network does (see PgProviderRateLimiter).
   */
  providerMaxTransitMs: number | null;
  providerWebhookSecrets: string[];
  reconcileIntervalMs: number;
  reconcileAfterMs: number;
  confirmationWindowMs: number;
  /** How long a dispatcher's claim lasts unrenewed: how soon a dead replica's work is taken over. */
  dispatchLeaseMs: number;
  callbackAllowedHosts: string[];
  /** Lets callbacks reach loopback, private and other special-purpose addresses (tests, labs). */
  callbackAllowPrivateNetworks: boolean;
  callbackRetryBaseMs: number;
  maxRechargeAmount: number;
  clientRateLimitRps: number;
  /** Failed authentications an address may make per minute (burst of as many) before 429. */
  authFailuresPerMinute: number;
  /** Concurrent `Prefer: wait` requests per client and replica; more are answered at once. */
  preferWaitMaxPerClient: number;
  /** Time to receive a whole request (headers and body) before its connection is closed. */
  requestTimeoutMs: number;
  shutdownGraceMs: number;
  shutdownDrainDelayMs: number;
  logLevel: string;
  /** auto: readable lines in a terminal, JSON lines otherwise. */
  logFormat: 'auto' | 'json' | 'pretty';
  supportedCurrencies: Currency[];
  /**
   * DISPATCHER_ENABLED=false makes the replica API-only: it runs none of the background loops that
   * move money or report it (dispatching, reconciliation, callback delivery). Rule evaluation has
   * its own switch, rulesEnabled.
   */
  dispatcherEnabled: boolean;
  /**
   * Apply pending migrations at start. false where the service's database role has no DDL
   * rights (the migration Job applies them; readiness waits until they are applied).
   */
  migrateOnStart: boolean;
  /** Serve /metrics on this port only (not on the API port); null: /metrics on the API port. */
  metricsPort: number | null;
  /** This replica evaluates auto-recharge rules (the API serves them either way). */
  rulesEnabled: boolean;
  /** Top-ups of a rule that end FAILED in a row before the rule disables itself. */
  ruleFailuresBeforeDisable: number;
  /** Human-readable warnings found while loading (insecure endpoint, simulator fallback). */
  warnings: string[];
}

export class ConfigError extends Error {}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

/** Reads and validates the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const raw = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const e = plainToInstance(Environment, raw, { excludeExtraneousValues: false });
  const errors = validateSync(e, { whitelist: true, forbidUnknownValues: false });
  const lines = errors.map((err) => `${err.property}: ${Object.values(err.constraints ?? {}).join('; ')}`);
  let databaseUrl: string | null = null;
  try {
    databaseUrl = e.DATABASE_URL ? normalizeDatabaseUrl(e.DATABASE_URL) : null;
  } catch (err) {
    if (!(err instanceof DatabaseUrlError)) throw err;
    lines.push(`DATABASE_URL: ${err.message}`);
  }
  if (lines.length > 0) {
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const weak = (e.PROVIDER_WEBHOOK_SECRETS ?? [])
    .map((secret, i) => [i, webhookSecretProblem(secret)] as const)
    .filter(([, problem]) => problem !== null)
    .map(([i, problem]) => `PROVIDER_WEBHOOK_SECRETS: entry ${i + 1} ${problem}`);
  if (weak.length > 0) throw new ConfigError(`invalid configuration:\n  ${weak.join('\n  ')}`);
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === (e.PORT ?? 3000)) {
    throw new ConfigError(
      'invalid configuration:\n  METRICS_PORT must differ from PORT (leave it unset to serve /metrics on PORT)',
    );
  }
  const warnings: string[] = [];
  const hasKeys = Boolean(e.ALIBABA_CLOUD_ACCESS_KEY_ID && e.ALIBABA_CLOUD_ACCESS_KEY_SECRET);
  const provider = e.PROVIDER ?? (hasKeys ? 'alibaba-cloud' : 'simulator');
  if (provider === 'alibaba-cloud' && !hasKeys) {
    throw new ConfigError(
      'invalid configuration:\n  PROVIDER=alibaba-cloud needs ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET',
    );
  }
  if (!e.PROVIDER && !hasKeys) {
    warnings.push(
      'NO ALIBABA CLOUD ACCESS KEY SET: running against the built-in BSS simulator (PROVIDER=simulator); no real money moves',
    );
  }
  const simulatorEmbedded = provider === 'simulator' && !e.ALIBABA_CLOUD_BSS_ENDPOINT;
  const endpoint =
    e.ALIBABA_CLOUD_BSS_ENDPOINT ?? (simulatorEmbedded ? 'http://127.0.0.1:0' : 'https://business.aliyuncs.com');
  const host = new URL(endpoint).hostname;
  if (endpoint.startsWith('http://') && !LOOPBACK.test(host)) {
    warnings.push(
      `ALIBABA_CLOUD_BSS_ENDPOINT uses plain http to a non-loopback host (${host}): credentials and amounts travel unencrypted`,
    );
  }
  return {
    port: e.PORT ?? 3000,
    databaseUrl,
    dataDir: e.DATA_DIR ?? './.data',
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT ?? 54329,
    embeddedPostgresRoot: e.EMBEDDED_POSTGRES_ROOT ?? DEFAULT_RUNTIME_ROOT,
    provider,
    alibabaCloud: {
      endpoint,
      // The simulator's well-known development keys when talking to it without keys of our own.
      accessKeyId: e.ALIBABA_CLOUD_ACCESS_KEY_ID ?? (provider === 'simulator' ? 'sim-access-key-id' : ''),
      accessKeySecret: e.ALIBABA_CLOUD_ACCESS_KEY_SECRET ?? (provider === 'simulator' ? 'sim-access-key-secret' : ''),
      businessType: e.ALIBABA_CLOUD_BUSINESS_TYPE ?? 'quota_amount_adjust',
      source: e.ALIBABA_CLOUD_SOURCE ?? 'alicloud-recharge',
      timeoutMs: e.PROVIDER_TIMEOUT_MS ?? 5000,
    },
    simulatorEmbedded,
    providerMaxRps: e.PROVIDER_MAX_RPS ?? 10,
    providerMaxTransitMs: e.PROVIDER_MAX_TRANSIT_MS ?? null,
    providerWebhookSecrets: e.PROVIDER_WEBHOOK_SECRETS ?? [],
    reconcileIntervalMs: e.RECONCILE_INTERVAL_MS ?? 30000,
    reconcileAfterMs: e.RECONCILE_AFTER_MS ?? 60000,
    confirmationWindowMs: e.CONFIRMATION_WINDOW_MS ?? 1800000,
    dispatchLeaseMs: e.DISPATCH_LEASE_MS ?? 4000,
    callbackAllowedHosts: e.CALLBACK_ALLOWED_HOSTS ?? [],
    callbackAllowPrivateNetworks: e.CALLBACK_ALLOW_PRIVATE_NETWORKS ?? false,
    callbackRetryBaseMs: e.CALLBACK_RETRY_BASE_MS ?? 10000,
    maxRechargeAmount: e.MAX_RECHARGE_AMOUNT ?? 100000000,
    clientRateLimitRps: e.CLIENT_RATE_LIMIT_RPS ?? 100,
    authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE ?? 60,
    preferWaitMaxPerClient: e.PREFER_WAIT_MAX_PER_CLIENT ?? 10,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS ?? 15000,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS ?? 25000,
    shutdownDrainDelayMs: e.SHUTDOWN_DRAIN_DELAY_MS ?? 5000,
    logLevel: e.LOG_LEVEL ?? 'info',
    logFormat: e.LOG_FORMAT ?? 'auto',
    supportedCurrencies: e.SUPPORTED_CURRENCIES ?? [...CURRENCIES],
    dispatcherEnabled: e.DISPATCHER_ENABLED ?? true,
    metricsPort: e.METRICS_PORT ?? null,
    migrateOnStart: e.MIGRATE_ON_START ?? true,
    rulesEnabled: e.RULES_ENABLED ?? true,
    ruleFailuresBeforeDisable: e.RULE_FAILURES_BEFORE_DISABLE ?? 3,
    warnings,
  };
}
