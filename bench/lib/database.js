'use strict';
/**
 * The bench's PostgreSQL: an embedded server in bench/.data (or the server of DATABASE_URL), with a
 * database of its own that is dropped and created fresh at every run, so nothing of a developer's
 * data is touched and every run starts from the same empty schema.
 */
const { existsSync, readFileSync } = require('node:fs');
const { resolve } = require('node:path');
const { Client } = require('pg');
const { ROOT, freePort } = require('./children');

const BENCH_DB = 'alicloud_recharge_bench';
const DATA_DIR = resolve(ROOT, 'bench/.data');

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** A server left running by a killed earlier run still holds bench/.data: reuse its port. */
async function embeddedPort() {
  const pidFile = resolve(DATA_DIR, 'pg/postmaster.pid');
  if (existsSync(pidFile)) {
    const [pid, , , port] = readFileSync(pidFile, 'utf8').split('\n');
    if (pidAlive(Number(pid)) && /^\d+$/.test(port)) return Number(port);
  }
  return freePort();
}

async function startDatabase(log) {
  let serverUrl;
  let stop = async () => undefined;
  let kind;
  if (process.env.DATABASE_URL) {
    serverUrl = process.env.DATABASE_URL;
    kind = 'DATABASE_URL';
    log(`PostgreSQL: DATABASE_URL (the bench creates and drops its own database "${BENCH_DB}" on that server)`);
  } else {
    const { startEmbeddedPostgres } = require(resolve(ROOT, 'dist/libs/embedded-postgres/embedded-postgres.js'));
    const port = await embeddedPort();
    log(`PostgreSQL: embedded, data in bench/.data, port ${port} (first run initialises the cluster)`);
    const handle = await startEmbeddedPostgres({ dataDir: DATA_DIR, port, database: 'postgres' });
    serverUrl = handle.url;
    stop = handle.stop;
    kind = 'embedded';
  }
  const admin = new URL(serverUrl);
  admin.pathname = '/postgres';
  const c = new Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${BENCH_DB}`);
    const { rows } = await c.query('SHOW server_version');
    const settings = await c.query(
      `SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers','fsync','synchronous_commit','max_connections','wal_level')`,
    );
    const url = new URL(serverUrl);
    url.pathname = `/${BENCH_DB}`;
    return {
      url: url.toString(),
      kind,
      version: rows[0].server_version,
      settings: Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])),
      async stop() {
        const d = new Client({ connectionString: admin.toString() });
        await d.connect().catch(() => undefined);
        await d.query(`DROP DATABASE IF EXISTS ${BENCH_DB} WITH (FORCE)`).catch(() => undefined);
        await d.end().catch(() => undefined);
        await stop();
      },
    };
  } finally {
    await c.end();
  }
}

async function withClient(url, work) {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/**
 * Empties every table that recharges fill (clients stay), then checkpoints, so every measured
 * window starts from the same state: otherwise a checkpoint that happens to start inside one
 * window (and the full-page images written after it) charges that window alone.
 * The ledger and the provider call log refuse TRUNCATE by trigger; the bench lifts it for this one statement.
 * The provider's send permits stay: emptied, they would all come free only a second after the next
 * service recreates them, which would charge that second to the next measured drain.
 */
async function truncateRecharges(url) {
  await withClient(url, async (c) => {
    // A running service's dispatcher may hold row locks on some of these tables while this takes
    // its table locks one by one; PostgreSQL then breaks the cycle by aborting one side (40P01).
    // When it aborts this side, the whole step is simply tried again.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await c.query('BEGIN');
        await c.query('ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_no_truncate');
        await c.query('ALTER TABLE provider_calls DISABLE TRIGGER provider_calls_no_truncate');
        await c.query(
          `TRUNCATE recharges, recharge_events, ledger_entries, balances, callback_deliveries, callback_attempts,
                    provider_notifications, discrepancies, reconciliation_runs, provider_calls,
                    rule_top_ups, rule_evaluations, dispatch_queues, dispatch_clients`,
        );
        await c.query('ALTER TABLE provider_calls ENABLE TRIGGER provider_calls_no_truncate');
        await c.query('ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_no_truncate');
        await c.query('COMMIT');
        break;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        if (err.code !== '40P01' || attempt >= 5) throw err;
      }
    }
    await c.query("DELETE FROM clients WHERE name LIKE 'historical-%'");
    await c.query('CHECKPOINT');
  });
}

async function vacuumAnalyze(url) {
  await withClient(url, async (c) => {
    await c.query('VACUUM ANALYZE');
    await c.query('CHECKPOINT');
  });
}

/**
 * 1,000,000 historical recharges spread over the bench client and four more, 5,000 accounts,
 * three currencies and ~80 days, in the final states a mature table is made of (93% SUCCEEDED,
 * 4% FAILED of which a quarter TIMEOUT, 3% CANCELED), each with its events (CREATED, then
 * SUBMITTED and SUCCEEDED/FAILED, or CANCELED): 2.97M event rows. Ids are UUIDv7-shaped from the
 * creation time, so they sort before anything the service creates, as real history would.
 */
async function seedHistory(url, benchClientId, total = 1_000_000) {
  return withClient(url, async (c) => {
    await c.query("SET maintenance_work_mem = '512MB'");
    // Bulk loading is several times faster with the secondary indexes built afterwards and without
    // per-row foreign-key triggers (the rows are consistent by construction). The indexes are
    // dropped and re-created from their own definitions in the catalogue, so they stay exactly
    // what the migrations made; the primary and unique constraints stay in place throughout.
    const { rows: plainIndexes } = await c.query(
      `SELECT i.indexname, i.indexdef FROM pg_indexes i
       WHERE i.schemaname = 'public' AND i.tablename IN ('recharges', 'recharge_events')
         AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)`,
    );
    const superuser =
      (await c.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0]?.rolsuper === true;
    for (const { indexname } of plainIndexes) await c.query(`DROP INDEX ${indexname}`);
    if (superuser) await c.query('SET session_replication_role = replica');
    await c.query(`
      INSERT INTO clients (id, name, api_key_hash, api_key_prefix, allowed_accounts, webhook_secret, created_at)
      SELECT 'cli_historical' || n, 'historical-' || n, encode(sha256(('historical-key-' || n)::bytea), 'hex'),
             'rk_hist' || n, ARRAY['*'], 'whsec_aGlzdG9yaWNhbA==', now() - interval '400 days'
      FROM generate_series(1, 4) n`);
    const started = Date.now();
    await c.query(
      `
      WITH g AS (
        SELECT i,
               now() - ($2::int - i) * interval '7 seconds' AS created,
               md5(i::text) AS h,
               i % 100 AS bucket
        FROM generate_series(1, $2::int) i
      )
      INSERT INTO recharges (id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency,
        order_reference, metadata, callback_url, state, provider_reference, message, failure_code, failure_message,
        failure_provider_code, attempts, next_attempt_at, submitted_at, trace_context, created_at, updated_at,
        completed_at, version)
      SELECT 'rch_' || lpad(to_hex((extract(epoch FROM created) * 1000)::bigint), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15),
             CASE i % 5 WHEN 0 THEN $1 ELSE 'cli_historical' || (i % 5) END,
             'hist-' || i,
             h || h,
             '10000000' || lpad(((i::bigint * 7919) % 5000)::text, 8, '0'),
             100 + (i::bigint * 37) % 100000,
             CASE WHEN i % 10 < 7 THEN 'CNY' WHEN i % 10 < 9 THEN 'USD' ELSE 'JPY' END,
             CASE WHEN i % 3 = 0 THEN 'order-' || i END,
             CASE WHEN i % 4 = 0 THEN jsonb_build_object('source', 'portal', 'batch', (i / 1000)::text) ELSE '{}'::jsonb END,
             NULL,
             CASE WHEN bucket < 93 THEN 'SUCCEEDED' WHEN bucket < 97 THEN 'FAILED' ELSE 'CANCELED' END,
             CASE WHEN bucket < 93 THEN '2026' || lpad(i::text, 9, '0') END,
             CASE WHEN bucket < 93 THEN 'provider confirmed the credit' WHEN bucket < 97 THEN 'provider rejected it' ELSE 'canceled by the client' END,
             CASE WHEN bucket < 93 THEN NULL WHEN bucket = 93 THEN 'TIMEOUT' WHEN bucket < 97 THEN 'PROVIDER_REJECTED' ELSE 'CANCELED' END,
             CASE WHEN bucket BETWEEN 93 AND 96 THEN 'failed' END,
             CASE WHEN bucket BETWEEN 94 AND 96 THEN 'NotAuthorized' END,
             CASE WHEN bucket < 97 THEN 1 ELSE 0 END,
             NULL,
             CASE WHEN bucket < 97 THEN created + interval '1 second' END,
             NULL,
             created,
             created + interval '2 seconds',
             created + interval '2 seconds',
             CASE WHEN bucket < 97 THEN 3 ELSE 2 END
      FROM g`,
      [benchClientId, total],
    );
    const rechargesMs = Date.now() - started;
    await c.query(`
      INSERT INTO recharge_events (recharge_id, from_state, to_state, reason, source, correction, at)
      SELECT r.id, s.from_state, s.to_state, s.reason, s.source, false, r.created_at + s.after
      FROM recharges r
      CROSS JOIN LATERAL (VALUES
        (1, NULL::text, 'CREATED', 'requested', 'api', interval '0'),
        (2, 'CREATED', CASE WHEN r.state = 'CANCELED' THEN 'CANCELED' ELSE 'SUBMITTED' END,
            CASE WHEN r.state = 'CANCELED' THEN 'canceled by the client' ELSE 'sending to the provider' END,
            CASE WHEN r.state = 'CANCELED' THEN 'api' ELSE 'dispatcher' END, interval '1 second'),
        (3, 'SUBMITTED', r.state, coalesce(r.message, ''), CASE WHEN r.failure_code = 'TIMEOUT' THEN 'reconciliation' ELSE 'dispatcher' END, interval '2 seconds')
      ) AS s(step, from_state, to_state, reason, source, after)
      WHERE s.step < 3 OR r.state <> 'CANCELED'`);
    if (superuser) await c.query('SET session_replication_role = DEFAULT');
    for (const { indexdef } of plainIndexes) await c.query(indexdef);
    const counts = await c.query(
      `SELECT (SELECT count(*) FROM recharges)::int AS recharges, (SELECT count(*) FROM recharge_events)::int AS events,
              pg_size_pretty(pg_total_relation_size('recharges')) AS recharges_size,
              pg_size_pretty(pg_total_relation_size('recharge_events')) AS events_size`,
    );
    return { ...counts.rows[0], rechargesMs, totalMs: Date.now() - started };
  });
}

/** Counters of the bench database, to explain a figure: buffer reads, commits, WAL and full-page images. */
async function pgCounters(url) {
  return withClient(url, async (c) => {
    const db = (
      await c.query('SELECT blks_read, blks_hit, xact_commit FROM pg_stat_database WHERE datname = current_database()')
    ).rows[0];
    // wal_write and wal_sync (flushes) are in pg_stat_wal up to PostgreSQL 17 (18 moved them to pg_stat_io).
    const walRow = (await c.query('SELECT * FROM pg_stat_wal')).rows[0];
    const wal = Object.fromEntries(
      ['wal_records', 'wal_fpi', 'wal_bytes', 'wal_write', 'wal_sync']
        .filter((k) => k in walRow)
        .map((k) => [k, walRow[k]]),
    );
    const ckpt = (await c.query('SELECT num_timed + num_requested AS checkpoints FROM pg_stat_checkpointer')).rows[0];
    const vac = (
      await c.query(
        "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) AS autovacuums FROM pg_stat_user_tables WHERE relname IN ('recharges', 'recharge_events')",
      )
    ).rows[0];
    return Object.fromEntries(Object.entries({ ...db, ...wal, ...ckpt, ...vac }).map(([k, v]) => [k, Number(v)]));
  });
}

/** Differences of pgCounters (PostgreSQL publishes some of them with a delay of up to a second: indicative). */
function counterDelta(before, after) {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
}

module.exports = {
  pgCounters,
  counterDelta,
  startDatabase,
  withClient,
  truncateRecharges,
  vacuumAnalyze,
  seedHistory,
  BENCH_DB,
};
