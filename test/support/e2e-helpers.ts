import { randomUUID } from 'node:crypto';
import { Client } from 'pg';

/** A valid create-recharge body; override any field (pass undefined to drop it). */
export function rechargeBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const body: Record<string, unknown> = { accountId: '1234567890123456', amount: 4999, currency: 'CNY', ...overrides };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  return body;
}

export const bearer = (apiKey: string): string => `Bearer ${apiKey}`;

export const newKey = (): string => `idem-${randomUUID()}`;

const COUNTS_SQL = `SELECT (SELECT count(*)::int FROM recharges) AS recharges,
                            (SELECT count(*)::int FROM recharge_events) AS events,
                            (SELECT count(*)::int FROM ledger_entries) AS ledger`;

const counters = new Map<string, Promise<Client>>();

/**
 * Row counts of the tables a POST /v1/recharges writes to. Keeps one connection per database
 * open for speed: call closeWriteCounters() in afterAll.
 */
export async function writeCounts(databaseUrl: string): Promise<{ recharges: number; events: number; ledger: number }> {
  let client = counters.get(databaseUrl);
  if (!client) {
    const c = new Client({ connectionString: databaseUrl });
    client = c.connect().then(() => c);
    counters.set(databaseUrl, client);
  }
  return (await (await client).query<{ recharges: number; events: number; ledger: number }>(COUNTS_SQL)).rows[0];
}

export async function closeWriteCounters(): Promise<void> {
  const open = [...counters.values()];
  counters.clear();
  await Promise.all(open.map(async (c) => (await c).end()));
}

export const PROBLEM_JSON = /^application\/problem\+json(;|$)/;
