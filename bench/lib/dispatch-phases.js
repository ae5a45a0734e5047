'use strict';
/**
 * The dispatcher's bench phases: fairness behind a backlog, claim cost with a large backlog, and
 * takeover after a replica is SIGKILLed. Backlogs are written straight into the tables (CREATED
 * rows as the API stores them, without their CREATED events, which the dispatcher never reads):
 * queueing 1,000,000 through HTTP would take longer than the phase itself.
 */
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { resolve } = require('node:path');
const { ROOT } = require('./children');
const { withClient } = require('./database');

/** `count` CREATED recharges for `clientId`, due now, spread over `accounts` accounts, oldest first. */
async function queueDirect(url, clientId, count, { accounts = 1000, tag = 'q' } = {}) {
  const started = performance.now();
  await withClient(url, async (c) => {
    await c.query(
      `INSERT INTO recharges (id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency, state,
         attempts, next_attempt_at, created_at, updated_at, version)
       SELECT 'rch_' || $1 || '_' || lpad(g::text, 8, '0'), $2, $1 || '-' || g, 'bench', '12345678' || lpad((g % $4)::text, 8, '0'),
         100 + g % 1000, 'CNY', 'CREATED', 0, now() - interval '1 hour' + g * interval '1 microsecond', now(), now(), 1
       FROM generate_series(1, $3::int) g`,
      [tag, clientId, count, accounts],
    );
    await c.query('VACUUM ANALYZE recharges');
    await c.query('CHECKPOINT');
  });
  return { queued: count, accounts, seconds: round((performance.now() - started) / 1000, 1) };
}

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const round = (x, d) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function post(agent, base, apiKey, body, key, headers = {}) {
  return new Promise((done) => {
    const started = performance.now();
    const text = JSON.stringify(body);
    const req = http.request(
      new URL('/v1/recharges', base),
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          authorization: `Bearer ${apiKey}`,
          'idempotency-key': key,
          ...headers,
        },
        timeout: 20_000,
      },
      (res) => {
        let out = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (out += d));
        res.on('end', () => {
          let parsed = null;
          try {
            parsed = JSON.parse(out);
          } catch {
            // counted as not succeeded
          }
          done({ ms: performance.now() - started, status: res.statusCode, recharge: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => done({ ms: performance.now() - started, status: 0, error: err.message }));
    req.end(text);
  });
}

/**
 * Fairness: client A's 20,000 are queued and draining at PROVIDER_MAX_RPS=10; client B then posts
 * one recharge a second for 60 s with `Prefer: wait=10` (the answer comes when it is final), so
 * each answer's latency is B's POST → SUCCEEDED. Utilisation counts every credit the simulator
 * applied in B's window against the budget (10/s).
 */
async function fairness({
  databaseUrl,
  startService,
  stopService,
  simAdmin,
  clientA,
  clientB,
  log,
  name,
  serviceEnv,
  describeEnv,
}) {
  const RPS = 10;
  const SECONDS = 60;
  const fill = await queueDirect(databaseUrl, clientA.clientId, 20_000, { tag: 'fairA' });
  log(
    `${name}: client A queued 20,000 directly in ${fill.seconds} s; starting the service at PROVIDER_MAX_RPS=${RPS}${describeEnv(serviceEnv)}`,
  );
  await simAdmin('POST', '/__admin/reset');
  const svc = await startService(name, { PROVIDER_MAX_RPS: String(RPS), ...serviceEnv });
  await sleep(5_000); // A's backlog is draining at full rate before B arrives
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const windowStart = Date.now();
  const pending = [];
  const t0 = performance.now();
  for (let i = 0; i < SECONDS; i++) {
    const wait = t0 + i * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(
      post(
        agent,
        svc.url,
        clientB.apiKey,
        { accountId: '2000000000000001', amount: 500 + i, currency: 'CNY' },
        `fair-b-${Date.now()}-${i}`,
        { prefer: 'wait=10' },
      ),
    );
  }
  const results = await Promise.all(pending);
  const windowEnd = windowStart + SECONDS * 1000;
  agent.destroy();
  const credits = (await simAdmin('GET', '/__admin/credits')).credits.map((c) => Date.parse(c.appliedAt));
  const inWindow = credits.filter((t) => t >= windowStart && t < windowEnd).length;
  // The most calls the simulator saw in any sliding second since the service started (the limit is RPS).
  const simStats = await simAdmin('GET', '/__admin/stats');
  const aLeft = await withClient(
    databaseUrl,
    async (c) =>
      (
        await c.query(
          `SELECT count(*)::int AS n FROM recharges WHERE client_id = $1 AND state IN ('CREATED','SUBMITTED','PENDING_CONFIRMATION')`,
          [clientA.clientId],
        )
      ).rows[0].n,
  );
  // Where each of B's recharges spent its time (ms from creation): chosen by a claim (SUBMITTED),
  // the provider call's start (the call log's time minus its duration), final.
  const bTimeline = await withClient(
    databaseUrl,
    async (c) =>
      (
        await c.query(
          `SELECT round(EXTRACT(EPOCH FROM (s.at - r.created_at)) * 1000)::int AS claimed,
                  round(EXTRACT(EPOCH FROM (p.at - r.created_at)) * 1000 - p.duration_ms)::int AS sent,
                  round(EXTRACT(EPOCH FROM (f.at - r.created_at)) * 1000)::int AS final,
                  (SELECT count(*) FROM recharge_events e WHERE e.to_state = 'SUBMITTED' AND e.at > r.created_at AND e.at < s.at)::int AS others_first
             FROM recharges r
             LEFT JOIN LATERAL (SELECT min(at) AS at FROM recharge_events WHERE recharge_id = r.id AND to_state = 'SUBMITTED') s ON true
             LEFT JOIN LATERAL (SELECT at, duration_ms FROM provider_calls WHERE recharge_id = r.id ORDER BY id LIMIT 1) p ON true
             LEFT JOIN LATERAL (SELECT min(at) AS at FROM recharge_events WHERE recharge_id = r.id AND to_state = 'SUCCEEDED') f ON true
            WHERE r.client_id = $1 ORDER BY r.created_at`,
          [clientB.clientId],
        )
      ).rows,
  );
  await stopService(svc);
  const ok = results
    .filter((r) => r.status === 202 && r.recharge?.status === 'succeeded')
    .map((r) => r.ms)
    .sort((a, b) => a - b);
  const outcomes = {};
  for (const r of results) {
    const k = r.error ? `error:${r.error}` : `${r.status}:${r.recharge?.status ?? '?'}`;
    outcomes[k] = (outcomes[k] ?? 0) + 1;
  }
  return {
    providerMaxRps: RPS,
    bOutcomes: outcomes,
    backlogA: 20_000,
    bPosted: SECONDS,
    bSucceeded: ok.length,
    bLatencyMs: { p50: round(pct(ok, 50), 0), p99: round(pct(ok, 99), 0), max: round(ok.at(-1), 0) },
    // In posting order, to tell a slow first request (a cold path) from stalls later on.
    bLatenciesInOrderMs: results.map((r) => round(r.ms, 0)),
    bTimelineMs: bTimeline.map((t) => [t.claimed, t.sent, t.final, t.others_first]),
    creditsInWindow: inWindow,
    utilisation: round(inWindow / (SECONDS * RPS), 4),
    maxRequestsPerSecond: simStats.maxRequestsPerSecond,
    maxRequestsPerSecondAllActions: simStats.maxRequestsPerSecondAllActions,
    aOpenAfter: aLeft,
  };
}

/** The dispatcher's claim statement, as compiled into dist/. */
function fairClaimText() {
  return require(resolve(ROOT, 'dist/src/recharge/infrastructure/persistence/recharge.statements.js')).FAIR_CLAIM.text;
}

/** `times` claims of 5 (the dispatcher's usual window), each rolled back so the backlog stays as it is. */
async function claimLatency(url, times = 200) {
  const text = fairClaimText();
  return withClient(url, async (c) => {
    const ms = [];
    for (let i = 0; i < times; i++) {
      const now = new Date();
      const started = performance.now();
      await c.query('BEGIN');
      await c.query('SELECT virtual_time FROM dispatch_clock FOR UPDATE');
      const { rows } = await c.query({
        name: 'bench_fair_claim',
        text,
        values: [now, new Date(now.getTime() + 4000), 5, 'lse_bench'],
      });
      await c.query('ROLLBACK');
      ms.push(performance.now() - started);
      if (rows.length !== 5) throw new Error(`claim returned ${rows.length} rows, expected 5`);
    }
    ms.sort((a, b) => a - b);
    return { claims: times, p50: round(pct(ms, 50), 2), p99: round(pct(ms, 99), 2) };
  });
}

/**
 * Backlog scale: the same drain (PROVIDER_MAX_RPS=50, a 10 s window after a 3 s start, so even the
 * 1,000 are not drained out inside it) and the same claim with 1,000 and with 1,000,000 queued.
 */
async function backlog({ databaseUrl, startService, stopService, simAdmin, truncate, client, log }) {
  const RPS = 50;
  const out = {};
  for (const [label, count] of [
    ['thousand', 1_000],
    ['million', 1_000_000],
  ]) {
    await truncate();
    const fill = await queueDirect(databaseUrl, client.clientId, count, { tag: `backlog${count}` });
    log(`backlog: ${count} queued directly in ${fill.seconds} s; claim latency (200 claims, rolled back)`);
    const claim = await claimLatency(databaseUrl);
    await simAdmin('POST', '/__admin/reset');
    const svc = await startService(`backlog-${label}`, { PROVIDER_MAX_RPS: String(RPS) });
    await sleep(3_000);
    const windowStart = Date.now();
    await sleep(10_000);
    const windowEnd = Date.now();
    await stopService(svc);
    const credits = (await simAdmin('GET', '/__admin/credits')).credits.map((c) => Date.parse(c.appliedAt));
    const inWindow = credits.filter((t) => t >= windowStart && t < windowEnd).length;
    // The most calls the simulator saw in any sliding second since the service started (the limit is RPS).
    const simStats = await simAdmin('GET', '/__admin/stats');
    out[label] = {
      queued: count,
      fillSeconds: fill.seconds,
      claimMs: claim,
      drainPerSecond: round(inWindow / ((windowEnd - windowStart) / 1000), 2),
      maxRequestsPerSecond: simStats.maxRequestsPerSecond,
    };
    log(`backlog ${count}: drain ${out[label].drainPerSecond}/s, claim p50 ${claim.p50} ms p99 ${claim.p99} ms`);
  }
  out.drainRatio = round(out.million.drainPerSecond / out.thousand.drainPerSecond, 3);
  out.claimP99Ratio = round(out.million.claimMs.p99 / out.thousand.claimMs.p99, 3);
  return out;
}

/**
 * Takeover: two replicas drain 2,000 at PROVIDER_MAX_RPS=10; one is SIGKILLed. Every recharge
 * leased at that moment is watched until it moves again (a new lease owner, or final): the
 * survivor's own move within its normal flow, the dead replica's once their lease lapses and the
 * survivor claims them. The phase reports the slowest.
 */
async function takeover({ databaseUrl, startService, stopService, simAdmin, client, log }) {
  await queueDirect(databaseUrl, client.clientId, 2_000, { tag: 'takeover' });
  await simAdmin('POST', '/__admin/reset');
  const env = { PROVIDER_MAX_RPS: '10' };
  const [doomed, survivor] = await Promise.all([
    startService('takeover-killed', env),
    startService('takeover-survivor', env),
  ]);
  await sleep(8_000);
  return withClient(databaseUrl, async (c) => {
    const leased = (
      await c.query(
        `SELECT id, lease_owner FROM recharges
          WHERE state IN ('CREATED','SUBMITTED','PENDING_CONFIRMATION') AND lease_until > now()`,
      )
    ).rows;
    doomed.proc.child.kill('SIGKILL');
    const killedAt = performance.now();
    const owners = new Map(leased.map((r) => [r.id, r.lease_owner]));
    const movedAfter = new Map();
    const deadline = killedAt + 60_000;
    while (movedAfter.size < owners.size && performance.now() < deadline) {
      const rows = (
        await c.query(`SELECT id, state, lease_owner FROM recharges WHERE id = ANY($1)`, [[...owners.keys()]])
      ).rows;
      const at = performance.now() - killedAt;
      for (const r of rows) {
        if (movedAfter.has(r.id)) continue;
        const final = !['CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION'].includes(r.state);
        if (final || r.lease_owner !== owners.get(r.id)) movedAfter.set(r.id, at);
      }
      await sleep(50);
    }
    await doomed.proc.stop();
    await stopService(survivor);
    const times = [...movedAfter.values()].sort((a, b) => a - b);
    const result = {
      leasedAtKill: owners.size,
      moved: movedAfter.size,
      stuck: owners.size - movedAfter.size,
      movedAfterMs: { p50: round(pct(times, 50), 0), max: round(times.at(-1), 0) },
    };
    log(
      `takeover: ${result.moved}/${result.leasedAtKill} leased recharges moved again, the last after ${result.movedAfterMs.max} ms`,
    );
    return result;
  });
}

module.exports = { fairness, backlog, takeover, queueDirect };
