import { createBssSimulator, BssSimulator, BssSimulatorOptions } from '../../libs/bss-simulator';
import type { Sql } from './confirmations';
import { createTestDatabase, query } from './database';
import { newKey } from './e2e-helpers';

import { startTestAppOn, TestApp } from './test-app';

export { startTestAppOn };

/** The environment that runs the dispatcher against a simulator over HTTP through the real pop-core client. */
export function dispatcherEnv(sim: BssSimulator, env: Record<string, string> = {}): Record<string, string> {
  return {
    DISPATCHER_ENABLED: 'true',
    PROVIDER: 'simulator',
    ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
    PROVIDER_TIMEOUT_MS: '2000',
    RECONCILE_AFTER_MS: '300',
    CLIENT_RATE_LIMIT_RPS: '10000',
    SHUTDOWN_GRACE_MS: '2000',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
    ...env,
  };
}

/**
 * The Authorization header of a new client for every account, registered through the application
 * itself on `databaseUrl`: for service processes, which have no admin API to register one.
 */
export async function authForNewClient(databaseUrl: string): Promise<string> {
  const app = await startTestAppOn(databaseUrl);
  try {
    return `Bearer ${(await app.createClient(['*'])).apiKey}`;
  } finally {
    await app.close();
  }
}

export interface DispatcherRig {
  sim: BssSimulator;
  app: TestApp;
  databaseUrl: string;
  auth: string;
  close(): Promise<void>;
}

/** A simulator, a fresh database and one application instance with its dispatcher running, plus a client. */
export async function startDispatcherRig(
  simOptions: BssSimulatorOptions = {},
  env: Record<string, string> = {},
): Promise<DispatcherRig> {
  const sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 100, ...simOptions });
  const databaseUrl = await createTestDatabase();
  let app: TestApp;
  try {
    app = await startTestAppOn(databaseUrl, dispatcherEnv(sim, env));
  } catch (err) {
    await sim.close();
    throw err;
  }
  const { apiKey } = await app.createClient(['*']);
  return {
    sim,
    app,
    databaseUrl,
    auth: `Bearer ${apiKey}`,
    async close() {
      // The application first: it finishes or abandons its calls while the simulator still answers.
      await app.close();
      await sim.close();
    },
  };
}

export interface LedgerRow {
  recharge_id: string;
  ledger_account: string;
  account_id: string | null;
  direction: 'debit' | 'credit';
  amount: string;
  currency: string;
}

export const ledgerRowsOf = (databaseUrl: string, rechargeId: string): Promise<LedgerRow[]> =>
  query<LedgerRow>(
    databaseUrl,
    `SELECT recharge_id, ledger_account, account_id, direction, amount::text AS amount, currency
       FROM ledger_entries WHERE recharge_id = $1 ORDER BY direction DESC, ledger_account`,
    [rechargeId],
  );

/** Credits positive, debits negative (minor units, exact). */
export const signed = (row: Pick<LedgerRow, 'direction' | 'amount'>): bigint =>
  (row.direction === 'credit' ? 1n : -1n) * BigInt(row.amount);

/** ChangeResellerConsumeAmount requests the simulator received. */
export const creditCalls = (sim: BssSimulator): number => sim.stats().requests.ChangeResellerConsumeAmount ?? 0;

/** 16-digit Alibaba Cloud UIDs, distinct per call, so tests sharing a simulator never share an account. */
let accountSeq = 0;
export const newAccountId = (): string =>
  `1${String(process.pid % 1000).padStart(3, '0')}${String(Date.now() % 1e8).padStart(8, '0')}${String(++accountSeq).padStart(4, '0')}`;

/** A recharge the provider's answer is awaited for, as a notification about it needs. */
export interface AwaitedRecharge {
  id: string;
  accountId: string;
  amount: number;
  currency: string;
}

/** POST /v1/recharges with a fresh Idempotency-Key; expects 202 and returns the new recharge's id. */
export async function postRecharge(
  t: TestApp,
  auth: string,
  body: { accountId: string; amount: number; currency: string },
): Promise<string> {
  const res = await t.http.post('/v1/recharges').set('Authorization', auth).set('Idempotency-Key', newKey()).send(body);
  expect(res.status).toBe(202);
  return res.body.id as string;
}

/**
 * A recharge created through the API of `t`, then put where a provider answer is awaited (by SQL,
 * parked an hour ahead as after a lost answer, so nothing re-sends it meanwhile).
 */
export async function awaitedRecharge(
  t: TestApp,
  sql: Sql,
  auth: string,
  {
    state,
    amount = 4999,
    currency = 'CNY',
  }: { state: 'SUBMITTED' | 'PENDING_CONFIRMATION'; amount?: number; currency?: string },
): Promise<AwaitedRecharge> {
  const accountId = newAccountId();
  const id = await postRecharge(t, auth, { accountId, amount, currency });
  await sql(
    `UPDATE recharges SET state = $2, submitted_at = now(), attempts = 1, next_attempt_at = now() + interval '1 hour' WHERE id = $1`,
    [id, state],
  );
  return { id, accountId, amount, currency };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}
