import { readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { canConnect } from '../../libs/embedded-postgres/embedded-postgres';
import { freePort, NodeProcess, startNode } from '../support/node-process';
import { compiledService } from '../support/private-build';
import { sleep } from '../support/wait';

/**
 * `npm start` as a newcomer runs it: no DATABASE_URL (embedded PostgreSQL in DATA_DIR),
 * no keys (the simulator in-process). On SIGTERM the service, not the embedded-postgres package,
 * decides when the database stops: a request sent during the drain delay is still stored and
 * dispatched, and the server stops once the service is done.
 */

const BUILD_MS = 180_000;
const DRAIN_DELAY_MS = 1500;

let build: string;
let dataDir: string;
let service: NodeProcess | undefined;

beforeAll(() => {
  build = compiledService();
  // Inside the project like the test database's (a folder under /tmp may be closed to the postgres user).
  dataDir = resolve(__dirname, '../..', '.test-data', `embedded-start-${process.pid}`);
  rmSync(dataDir, { recursive: true, force: true });
}, BUILD_MS);

afterAll(async () => {
  await service?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

const serviceEnv = (ports: { port: number; pgPort: number; simulatorPort: number }) => ({
  PORT: String(ports.port),
  DATA_DIR: dataDir,
  EMBEDDED_POSTGRES_PORT: String(ports.pgPort),
  SIMULATOR_PORT: String(ports.simulatorPort),
  SHUTDOWN_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
  SHUTDOWN_GRACE_MS: '3000',
  LOG_LEVEL: 'warn',
});

it('SIGTERM: a request during the drain is stored in the embedded database, which stops only after the service; a restart finishes it', async () => {
  const ports = { port: await freePort(), pgPort: await freePort(), simulatorPort: await freePort() };
  const url = `http://127.0.0.1:${ports.port}`;
  service = startNode(join(build, 'src', 'main.js'), [], serviceEnv(ports));
  await service.waitForLine(/Ctrl-C stops it/, 120_000);
  const apiKey = /Demo API key\s+(\S+)/.exec(service.stdout())?.[1];
  expect(apiKey).toMatch(/^rk_/);
  // Kept in DATA_DIR for the next start, readable by its owner only.
  expect(readFileSync(join(dataDir, 'demo-api-key'), 'utf8').trim()).toBe(apiKey);
  expect(statSync(join(dataDir, 'demo-api-key')).mode & 0o777).toBe(0o600);
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const password = readFileSync(join(dataDir, 'postgres-password'), 'utf8').trim();
  const databaseUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${ports.pgPort}/recharge`;
  expect(await canConnect(databaseUrl)).toBe(true);
  // The old fixed password is not accepted.
  expect(await canConnect(`postgres://postgres:postgres@127.0.0.1:${ports.pgPort}/recharge`)).toBe(false);

  const signalAt = service.signal('SIGTERM');
  await sleep(300);
  // Sent within the drain delay, so accepted; the dispatcher stopped claiming at the signal, and the
  // wait ends when the server starts closing: 202 with the recharge as stored, not a broken socket.
  const res = await fetch(`${url}/v1/recharges`, {
    method: 'POST',
    headers: { ...headers, 'idempotency-key': 'embedded-drain-1', prefer: 'wait=10' },
    body: JSON.stringify({ accountId: '1234567890123456', amount: 100, currency: 'CNY' }),
  });
  const answeredAfterMs = Date.now() - signalAt;
  const body = (await res.json()) as { id: string; state: string };
  expect({ status: res.status, state: body.state }).toEqual({ status: 202, state: 'CREATED' });
  // While draining every answer closes its connection, so no idle keep-alive socket holds up the close.
  expect(res.headers.get('connection')).toBe('close');
  expect(answeredAfterMs).toBeGreaterThanOrEqual(DRAIN_DELAY_MS);
  expect(answeredAfterMs).toBeLessThan(DRAIN_DELAY_MS + 1000);

  const exit = await service.exited;
  expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
  expect(service.output()).toContain('shutdown complete');
  expect(service.output()).not.toContain('grace');
  // The service stopped the server it started, last.
  expect(await canConnect(databaseUrl)).toBe(false);

  // Same data directory: the recharge accepted during the drain is there and gets dispatched.
  service = startNode(join(build, 'src', 'main.js'), [], serviceEnv(ports));
  await service.waitForLine(/Ctrl-C stops it/, 120_000);
  // The same demo key, shown again.
  expect(/Demo API key\s+(\S+)/.exec(service.stdout())?.[1]).toBe(apiKey);
  const after = await fetch(`${url}/v1/recharges/${body.id}`, { headers: { ...headers, prefer: 'wait=10' } });
  expect(after.status).toBe(200);
  expect(((await after.json()) as { state: string }).state).toBe('SUCCEEDED');
  service.signal('SIGTERM');
  expect((await service.exited).code).toBe(0);
}, 240_000);
