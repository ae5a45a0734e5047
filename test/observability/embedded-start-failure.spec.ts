import { rmSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { join, resolve } from 'node:path';
import { freePort, runNode } from '../support/node-process';
import { compiledService } from '../support/private-build';

/**
 * `npm start` when its embedded PostgreSQL cannot start (here: the port belongs to another
 * program): the compiled service exits 1 with one line on stderr saying what happened and what to
 * do, never a stack trace. The lines logged before it show the log format: JSON lines when stdout
 * is not a terminal, readable lines with LOG_FORMAT=pretty.
 */

let build: string;
let holder: Server;
let heldPort: number;
const dataDir = resolve(__dirname, '../..', '.test-data', `embedded-fail-${process.pid}`);

beforeAll(async () => {
  build = compiledService();
  heldPort = await freePort();
  holder = createServer((socket) => socket.end());
  await new Promise<void>((done) => holder.listen(heldPort, '127.0.0.1', done));
}, 180_000);

afterAll(async () => {
  await new Promise((done) => holder.close(done));
  rmSync(dataDir, { recursive: true, force: true });
});

const start = async (env: Record<string, string> = {}) =>
  runNode(join(build, 'src', 'main.js'), [], {
    PORT: String(await freePort()),
    SIMULATOR_PORT: String(await freePort()),
    DATA_DIR: dataDir,
    EMBEDDED_POSTGRES_PORT: String(heldPort),
    ...env,
  });

it('a taken database port: exit 1, one line naming the port and EMBEDDED_POSTGRES_PORT; logs are JSON lines off a terminal', async () => {
  const run = await start();
  expect(run.code).toBe(1);
  expect(run.stderr).toBe(
    `embedded PostgreSQL: port ${heldPort} is taken by another program (not the embedded PostgreSQL of ${dataDir}); ` +
      'set EMBEDDED_POSTGRES_PORT to a free port, or stop that program\n',
  );
  const lines = run.stdout.trim().split('\n');
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  expect(JSON.parse(lines[0])).toMatchObject({
    level: 'warn',
    msg: expect.stringContaining('NO ALIBABA CLOUD ACCESS KEY'),
  });
}, 60_000);

it('LOG_FORMAT=pretty: readable lines (what a terminal gets), the failure still one line', async () => {
  const run = await start({ LOG_FORMAT: 'pretty' });
  expect(run.code).toBe(1);
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  expect(run.stdout).toMatch(/^\[\d\d:\d\d:\d\d\] WARN: NO ALIBABA CLOUD ACCESS KEY SET/m);
  expect(run.stdout).not.toContain('{"level"');
}, 60_000);
