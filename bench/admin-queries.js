'use strict';
/**
 * `npm run bench:admin`: how long the operators' overview (GET /admin/v1/summary) and recharge
 * search (GET /admin/v1/recharges with each filter) take on a database of 1,000,000 recharges
 * (bench/lib/database.js seedHistory: 5,000 accounts, 5 clients, ~80 days, 2.97M events), through
 * the production build over HTTP. Each request is sent 11 times; the first is a warm-up, the table
 * shows the median and the slowest of the other ten. Then the operators' indexes (migration
 * 20261203007002) are dropped and the same requests are timed once more, to show what they buy.
 * Writes bench/admin-results.json.
 */
const { performance } = require('node:perf_hooks');
const { writeFileSync } = require('node:fs');
const { resolve } = require('node:path');
const {
  ROOT,
  freePort,
  startNode,
  stopAll,
  runNode,
  serviceNodeArgs,
  deploymentNodeOptions,
} = require('./lib/children');
const { startDatabase, seedHistory, vacuumAnalyze, withClient } = require('./lib/database');

const RUNS = 10;
const ADMIN_INDEXES = [
  'recharges_created_idx',
  'recharges_account_created_idx',
  'recharges_state_created_idx',
  'recharges_client_created_idx',
  'recharges_idempotency_key_idx',
  'recharges_order_reference_idx',
  'recharges_completed_idx',
];

const log = (msg) => process.stderr.write(`[bench:admin] ${msg}\n`);

async function main() {
  const database = await startDatabase(log);
  let service;
  try {
    const env = { DATABASE_URL: database.url, LOG_LEVEL: 'warn', PROVIDER: 'simulator' };
    // The CLI applies the migrations (all of them, including the operators' indexes).
    const lastLine = (out) => JSON.parse(out.trim().split('\n').at(-1));
    const client = lastLine(
      await runNode('dist/src/cli.js', ['clients:create', '--name', 'bench', '--accounts', '*', '--json'], env),
    );
    const operator = lastLine(
      await runNode('dist/src/cli.js', ['operators:create', '--name', 'bench', '--role', 'viewer', '--json'], env),
    );
    log('seeding 1,000,000 recharges (a few minutes)…');
    const seeded = await seedHistory(database.url, client.clientId);
    log(
      `seeded ${seeded.recharges} recharges, ${seeded.events} events (${seeded.recharges_size} + ${seeded.events_size}) in ${Math.round(seeded.totalMs / 1000)} s`,
    );
    await vacuumAnalyze(database.url);

    // Values that exist in the seeded data: an account, an order reference, an idempotency key and
    // an id from the middle of the table, and a one-hour window forty days back.
    const sample = await withClient(
      database.url,
      async (c) =>
        (
          await c.query(
            `SELECT id, account_id, idempotency_key, client_id, created_at FROM recharges
           WHERE order_reference IS NOT NULL ORDER BY id OFFSET 150000 LIMIT 1`,
          )
        ).rows[0],
    );
    const order = await withClient(
      database.url,
      async (c) =>
        (await c.query(`SELECT order_reference FROM recharges WHERE id = $1`, [sample.id])).rows[0].order_reference,
    );
    const from = new Date(Date.now() - 40 * 86_400_000);
    const to = new Date(from.getTime() + 3_600_000);

    const port = await freePort();
    service = await startNode(
      'service',
      'dist/src/main.js',
      {
        ...env,
        PORT: String(port),
        ALIBABA_CLOUD_BSS_ENDPOINT: 'http://127.0.0.1:9',
        DISPATCHER_ENABLED: 'false',
        SHUTDOWN_DRAIN_DELAY_MS: '0',
        NODE_OPTIONS: deploymentNodeOptions(),
      },
      { readyPattern: /alicloud-recharge listening/, nodeArgs: serviceNodeArgs() },
    );
    const base = `http://127.0.0.1:${port}`;
    const headers = { Authorization: `Bearer ${operator.token}` };
    const get = async (path) => {
      const started = performance.now();
      const res = await fetch(`${base}${path}`, { headers });
      const body = await res.json();
      const ms = performance.now() - started;
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
      return { ms, body };
    };
    const firstPage = await get('/admin/v1/recharges?limit=25');
    const cases = [
      ['summary (overview figures + 3 h chart)', '/admin/v1/summary'],
      ['search: no filter, first page', '/admin/v1/recharges?limit=25'],
      ['search: no filter, next page (cursor)', `/admin/v1/recharges?limit=25&cursor=${firstPage.body.nextCursor}`],
      ['search: accountId', `/admin/v1/recharges?limit=25&accountId=${sample.account_id}`],
      ['search: status=failed', '/admin/v1/recharges?limit=25&status=failed'],
      ['search: state=FAILED + accountId', `/admin/v1/recharges?limit=25&state=FAILED&accountId=${sample.account_id}`],
      ['search: clientId', `/admin/v1/recharges?limit=25&clientId=${sample.client_id}`],
      [
        'search: created range (1 h, 40 days ago)',
        `/admin/v1/recharges?limit=25&createdFrom=${from.toISOString()}&createdTo=${to.toISOString()}`,
      ],
      ['search: q = order reference', `/admin/v1/recharges?limit=25&q=${encodeURIComponent(order)}`],
      ['search: q = idempotency key', `/admin/v1/recharges?limit=25&q=${encodeURIComponent(sample.idempotency_key)}`],
      ['search: q = recharge id', `/admin/v1/recharges?limit=25&q=${sample.id}`],
      ['search: status=in_progress (none open)', '/admin/v1/recharges?limit=25&status=in_progress'],
    ];
    const measure = async () => {
      const rows = [];
      for (const [name, path] of cases) {
        const times = [];
        let found = 0;
        for (let i = 0; i <= RUNS; i++) {
          const { ms, body } = await get(path);
          if (i > 0) times.push(ms);
          found = Array.isArray(body.data) ? body.data.length : -1;
        }
        times.sort((a, b) => a - b);
        rows.push({ name, medianMs: +times[RUNS / 2].toFixed(1), maxMs: +times.at(-1).toFixed(1), rows: found });
      }
      return rows;
    };
    log('measuring with the operators’ indexes…');
    const withIndexes = await measure();
    log('dropping the operators’ indexes and measuring again…');
    await withClient(database.url, (c) => c.query(`DROP INDEX ${ADMIN_INDEXES.join(', ')}`));
    await vacuumAnalyze(database.url);
    const without = await measure();
    const table = withIndexes.map((r, i) => ({
      query: r.name,
      'rows returned': r.rows,
      'median ms': r.medianMs,
      'max ms': r.maxMs,
      'median ms without the indexes': without[i].medianMs,
    }));
    console.table(table);
    writeFileSync(
      resolve(ROOT, 'bench/admin-results.json'),
      `${JSON.stringify({ at: new Date().toISOString(), postgres: database.version, seeded, runs: RUNS, results: table }, null, 2)}\n`,
    );
  } finally {
    if (service) await service.stop();
    await stopAll();
    await database.stop();
  }
}

main().catch((err) => {
  log(err.stack ?? String(err));
  process.exit(1);
});
