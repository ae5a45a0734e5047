import { INJECTABLE_ERRORS } from './bss-errors';
import { AccountInput, RepeatAnswer } from './bss-ledger';
import { BssSimulatorOptions } from './bss-simulator';
import { parseFaultRules } from './fault-injector';

/**
 * Simulator options from SIMULATOR_* environment variables (for `npm run simulator`). Throws with
 * a message naming the variable, so a typo fails at start rather than silently using a default.
 */
export function simulatorOptionsFromEnv(env: NodeJS.ProcessEnv): BssSimulatorOptions {
  const options: BssSimulatorOptions = {
    port: integer(env, 'SIMULATOR_PORT', 8089),
    host: env.SIMULATOR_HOST || '127.0.0.1',
    credentials: [
      {
        accessKeyId: env.SIMULATOR_ACCESS_KEY_ID || 'sim-access-key-id',
        accessKeySecret: env.SIMULATOR_ACCESS_KEY_SECRET || 'sim-access-key-secret',
      },
    ],
    rateLimitPerSecond: rateLimit(env.SIMULATOR_RATE_LIMIT_RPS),
    throttleHttpStatus: integer(env, 'SIMULATOR_THROTTLE_STATUS', 400),
    latencyMs: integer(env, 'SIMULATOR_LATENCY_MS', 0),
    seed: integer(env, 'SIMULATOR_SEED', 1),
    faults: env.SIMULATOR_FAULTS ? parseFaultRules(json('SIMULATOR_FAULTS', env.SIMULATOR_FAULTS)) : [],
  };
  const repeat = env.SIMULATOR_REPEAT_OUT_BIZ_ID;
  if (repeat !== undefined && repeat !== '') options.repeatOutBizId = repeatAnswer(repeat);
  if (env.SIMULATOR_ACCOUNTS) options.accounts = accounts(json('SIMULATOR_ACCOUNTS', env.SIMULATOR_ACCOUNTS));
  const site = env.SIMULATOR_SITE;
  if (site !== undefined && site !== '') {
    if (site !== 'china' && site !== 'intl') throw new Error('SIMULATOR_SITE must be "china" or "intl"');
    options.site = site;
  }
  const url = env.SIMULATOR_NOTIFY_URL;
  const secret = env.SIMULATOR_WEBHOOK_SECRET;
  if (url || secret) {
    if (!url || !secret) throw new Error('SIMULATOR_NOTIFY_URL and SIMULATOR_WEBHOOK_SECRET must be set together');
    options.notify = {
      url,
      secret,
      delayMs: integer(env, 'SIMULATOR_NOTIFY_DELAY_MS', 0),
      duplicate: env.SIMULATOR_NOTIFY_DUPLICATE === 'true',
      outOfOrder: env.SIMULATOR_NOTIFY_OUT_OF_ORDER === 'true',
    };
  }
  return options;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text)) throw new Error(`${name} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

/** A number ("10"), or JSON per Action ('{"ChangeResellerConsumeAmount":5,"*":10}'). */
function rateLimit(text: string | undefined): number | Record<string, number> {
  if (text === undefined || text === '') return 10;
  if (/^\d+$/.test(text)) return Number(text);
  const parsed = json('SIMULATOR_RATE_LIMIT_RPS', text);
  const valid =
    typeof parsed === 'object' &&
    parsed !== null &&
    Object.values(parsed).every((v) => Number.isInteger(v) && (v as number) >= 0);
  if (!valid) throw new Error('SIMULATOR_RATE_LIMIT_RPS must be an integer or a JSON object of integers per Action');
  return parsed as Record<string, number>;
}

/** "first" (default), "fresh", "error" (-303) or "error:<code>", e.g. "error:IdempotentParameterMismatch". */
function repeatAnswer(text: string): RepeatAnswer {
  if (text === 'first' || text === 'fresh') return { answer: text };
  const error = /^error(?::(.+))?$/.exec(text);
  if (error) {
    const code = error[1] ?? '-303';
    if (code in INJECTABLE_ERRORS) return { answer: 'error', code };
  }
  throw new Error(
    `SIMULATOR_REPEAT_OUT_BIZ_ID must be "first", "fresh", "error" or "error:<code>" with a code of ${Object.keys(INJECTABLE_ERRORS).join(', ')}; got "${text}"`,
  );
}

/** '[{"ownerId":"1234567890123456","quota":"500.00","spendPerMinute":"30.00"}]': checked again when the simulator opens them. */
function accounts(parsed: unknown): Array<AccountInput & { ownerId: string }> {
  const valid =
    Array.isArray(parsed) &&
    parsed.every(
      (a) =>
        typeof a === 'object' &&
        a !== null &&
        typeof (a as { ownerId?: unknown }).ownerId === 'string' &&
        Object.entries(a as object).every(([, v]) => typeof v === 'string'),
    );
  if (!valid) {
    throw new Error(
      'SIMULATOR_ACCOUNTS must be a JSON array of {"ownerId", "quota", "consumed", "currency", "site", "spendPerMinute"} strings',
    );
  }
  return parsed as Array<AccountInput & { ownerId: string }>;
}

function json(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${name} is not valid JSON`);
  }
}
