import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import { Webhook } from 'standardwebhooks';
import { SERVICE_LISTENING, startNodeUntilLine } from './node-process';
export { freePort } from './node-process';

/**
 * Helpers for the issue-4 suites (test/integration/confirmations): provider notifications signed
 * per Standard Webhooks, a local callback receiver, Prometheus text parsing and the compiled
 * service as a child process that can be SIGKILLed and restarted.
 */

export interface Sql {
  <T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** Queries on a small pool kept open for a whole file (a new connection per assertion is slow on a busy machine). */
export function sqlOn(databaseUrl: string): Sql {
  const pool = new Pool({ connectionString: databaseUrl, max: 4 });
  const sql = (async <T>(text: string, params: unknown[] = []) => (await pool.query(text, params)).rows as T[]) as Sql;
  sql.close = () => pool.end();
  return sql;
}

/** How many recharges are in each state. */
export async function countsByState(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM recharges GROUP BY state ORDER BY state',
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** How many recharges are not final yet (neither SUCCEEDED, FAILED nor CANCELED). */
export async function notFinalCount(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM recharges WHERE state NOT IN ('SUCCEEDED', 'FAILED', 'CANCELED')`,
  );
  return row!.n;
}

/** A fresh Standard Webhooks secret, `whsec_<base64 of 32 random bytes>`. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

export interface NotificationData {
  OutBizId?: string;
  OwnerId?: string;
  Amount?: string;
  Currency?: string;
  Status?: string;
  TransactionNumber?: string | null;
  FailureCode?: string | null;
  [extra: string]: unknown;
}

const STATUS_OF_TYPE: Record<string, string> = { Succeeded: 'SUCCEEDED', Failed: 'FAILED', Canceled: 'CANCELED' };

/** A contract-section-5 CloudEvent; `type` may be short ('Succeeded') or full ('bss:Recharge:Succeeded'). */
export function providerEvent(type: string, data: NotificationData): Record<string, unknown> {
  const fullType = type.includes(':') ? type : `bss:Recharge:${type}`;
  const short = fullType.split(':').pop() ?? '';
  return {
    specversion: '1.0',
    id: `evt_${randomBytes(12).toString('hex')}`,
    source: 'acs:bss',
    type: fullType,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    subject: data.OutBizId ?? '',
    datacontenttype: 'application/json',
    data: {
      Status: STATUS_OF_TYPE[short] ?? 'SUCCEEDED',
      TransactionNumber: `tx-${randomBytes(6).toString('hex')}`,
      FailureCode: null,
      ...data,
    },
  };
}

export const newWebhookId = (): string => `msg_${randomBytes(12).toString('hex')}`;

/** The three Standard Webhooks headers for `body`, signed with `secret` at `at`. */
export function signatureHeaders(
  secret: string,
  body: string,
  webhookId = newWebhookId(),
  at = new Date(),
): Record<string, string> {
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(webhookId, at, body),
  };
}

/** Sums the samples of a Prometheus metric whose labels include `labels` (0 when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[4]);
  }
  return total;
}

export interface ReceivedCallback {
  at: number;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/** A local HTTP endpoint for callbacks: records every request and answers the scripted statuses (then 200). */
export interface CallbackReceiver {
  url: string;
  port: number;
  received: ReceivedCallback[];
  /** Statuses for the next requests, in order; once used up, 200. */
  script(...statuses: number[]): void;
  close(): Promise<void>;
}

export async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  let scripted: number[] = [];
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = scripted.shift() ?? 200;
      received.push({
        at: Date.now(),
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status,
      });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'ok' : 'nope');
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    script: (...statuses) => {
      scripted = statuses;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface ChildService {
  url: string;
  pid: number;
  /** SIGKILL: no shutdown hook runs, in-flight work is simply gone. Resolves once the process has exited. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful); SIGKILL after timeoutMs. Resolves to the exit code (null when killed). */
  stop(timeoutMs?: number): Promise<number | null>;
  output(): string;
}

/**
 * A compiled entry point (`<dist>/src/main.js`) as a child process with exactly `env` (plus PATH
 * and HOME), resolved once it logs that it is listening on `port`.
 */
export async function startCompiledService(
  mainJs: string,
  port: number,
  env: Record<string, string>,
  startTimeoutMs = 30_000,
): Promise<ChildService> {
  const proc = await startNodeUntilLine(mainJs, { ...env, PORT: String(port) }, SERVICE_LISTENING, startTimeoutMs);
  return {
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    output: proc.output,
    async kill9() {
      await proc.kill();
    },
    async stop(timeoutMs = 15_000) {
      return (await proc.stop(timeoutMs)).code;
    },
  };
}
