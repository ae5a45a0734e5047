'use strict';
/**
 * Load generators: wrk (its own process, 1 thread) for the ingest saturation load; autocannon
 * (programmatic) only to fill queues; in-process open-loop clients for the evenly paced and end to
 * end loads (a few hundred requests a second: light, and latency is charged from the due time).
 */
const { performance } = require('node:perf_hooks');
const http = require('node:http');
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { resolve: resolvePath } = require('node:path');
const autocannon = require('autocannon');
const cpu = require('./cpu');

const RUN = randomBytes(4).toString('hex');
let sequence = 0;

/** A fresh, valid POST /v1/recharges: unique Idempotency-Key, 1,000 accounts, varied amounts. */
function nextRecharge() {
  sequence += 1;
  const n = sequence;
  return {
    key: `bench-${RUN}-${n}`,
    body: JSON.stringify({
      accountId: `12345678${String((n * 7919) % 1000).padStart(8, '0')}`,
      amount: 100 + ((n * 37) % 100000),
      currency: 'CNY',
      orderReference: `order-${RUN}-${n}`,
      metadata: { source: 'bench' },
    }),
  };
}

function postRequests(apiKey, extraHeaders = {}) {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, ...extraHeaders };
  return [
    {
      method: 'POST',
      path: '/v1/recharges',
      setupRequest: (req) => {
        const { key, body } = nextRecharge();
        req.headers = { ...headers, 'idempotency-key': key };
        req.body = body;
        return req;
      },
    },
  ];
}

function summarize(r) {
  const codes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([code, v]) => [code, v.count]));
  return {
    requestsPerSecond: round(r.requests.average, 1),
    completed: r['2xx'],
    durationSeconds: round(r.duration, 2),
    latencyMs: {
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
      mean: round(r.latency.average, 2),
    },
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes: codes,
  };
}

const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

const WRK_SCRIPT = resolvePath(__dirname, 'wrk-post.lua');
let wrkRuns = 0;

/**
 * One wrk run against POST /v1/recharges (each with its own key prefix: wrk's counter restarts).
 * wrk runs under a shell that prints its own /proc stat once wrk has exited and been waited for:
 * the shell's cutime + cstime are then exactly wrk's CPU time.
 */
function runWrk(url, apiKey, { connections, seconds }) {
  wrkRuns += 1;
  const args = [
    '-t1',
    `-c${connections}`,
    `-d${seconds}s`,
    '--timeout',
    '10s',
    '-s',
    WRK_SCRIPT,
    url,
    '--',
    apiKey,
    `${RUN}-${wrkRuns}`,
  ];
  const shell = 'wrk "$@"; s=$?; echo "WRK_SHELL_STAT $(cat /proc/$$/stat)"; exit $s';
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', shell, 'sh', ...args], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const json = /^WRK_JSON (.*)$/m.exec(out)?.[1];
      if (code !== 0 || !json) return reject(new Error(`wrk exited ${code}:\n${out}\n${err}`));
      const stat = /^WRK_SHELL_STAT (.*)$/m.exec(out)?.[1] ?? '';
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[13], fields[14]: cutime, cstime (waited-for children), in USER_HZ ticks.
      const wrkCpuMs = ((Number(fields[13]) + Number(fields[14])) * 1000) / cpu.TICK;
      resolve({ ...JSON.parse(json), wrkCpuMs });
    });
  });
}

/**
 * Closed-loop saturation with wrk as its own process (`-t1 -c32`: one thread, so the generator
 * takes little of the machine's two cores): a short warm-up, then the measured window. With the
 * server's `pid`, the server process's own CPU over the window is reported per request.
 */
async function ingest(
  url,
  apiKey,
  { connections = 32, warmupSeconds = 3, seconds = 10, pid = null, counters = null, counterDelta = null } = {},
) {
  await runWrk(url, apiKey, { connections, seconds: warmupSeconds });
  const countersBefore = counters ? await counters() : null;
  const before = cpu.snapshot();
  const serverBefore = pid === null ? null : cpu.processTicks(pid);
  const w = await runWrk(url, apiKey, { connections, seconds });
  const serverAfter = pid === null ? null : cpu.processTicks(pid);
  const usage = cpu.usage(before);
  const postgres = counters ? counterDelta(countersBefore, await counters()) : null;
  const durationSeconds = w.durationUs / 1e6;
  const ok = Object.entries(w.statusCodes)
    .filter(([code]) => Number(code) >= 200 && Number(code) < 300)
    .reduce((sum, [, n]) => sum + n, 0);
  const serverCpuMs =
    serverBefore === null || serverAfter === null ? null : ((serverAfter - serverBefore) * 1000) / cpu.TICK;
  return {
    generator: `wrk -t1 -c${connections}`,
    // Answered requests per second as wrk counts them (any status; non-2xx are reported beside).
    requestsPerSecond: round(w.requests / durationSeconds, 1),
    requests: w.requests,
    completed: ok,
    durationSeconds: round(durationSeconds, 2),
    latencyMs: w.latencyMs,
    non2xx: w.requests - ok,
    errors: w.errors.connect + w.errors.read + w.errors.write + w.errors.timeout,
    socketErrors: w.errors,
    statusCodes: w.statusCodes,
    cpu: {
      ...usage,
      serverMsPerRequest: serverCpuMs === null || w.requests === 0 ? null : round(serverCpuMs / w.requests, 3),
      serverCores: serverCpuMs === null ? null : round(serverCpuMs / 1000 / durationSeconds, 2),
      wrkCpuMs: w.wrkCpuMs,
      wrkCores: round(w.wrkCpuMs / 1000 / durationSeconds, 2),
    },
    ...(postgres && {
      // What PostgreSQL did per request in the window: commits (the dispatcher's included) and
      // WAL flushes. Fewer requests per flush means more of the machine per request (group commit).
      postgres: {
        ...postgres,
        perRequest: {
          commits: round(postgres.xact_commit / w.requests, 3),
          walSyncs: postgres.wal_sync === undefined ? null : round(postgres.wal_sync / w.requests, 3),
          walWrites: postgres.wal_write === undefined ? null : round(postgres.wal_write / w.requests, 3),
        },
      },
    }),
  };
}

/** Exactly `amount` recharges (e.g. to fill a queue), as fast as `connections` allow. */
async function fill(url, apiKey, amount, connections = 32) {
  const r = await autocannon({ url, connections, amount, requests: postRequests(apiKey), timeout: 10 });
  return summarize(r);
}

function postOnce(agent, base, apiKey, extraHeaders, timeoutMs) {
  const { key, body } = nextRecharge();
  const u = new URL('/v1/recharges', base);
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request(
      u,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${apiKey}`,
          'idempotency-key': key,
          ...extraHeaders,
        },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          let parsed = null;
          try {
            parsed = JSON.parse(text);
          } catch {
            // reported as a failure below
          }
          resolve({ ms, status: res.statusCode, recharge: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) =>
      resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, status: 0, error: err.message }),
    );
    req.end(body);
  });
}

/**
 * End to end: `count` POSTs with `Prefer: wait=10`, started at a fixed `rate` (open loop: a slow
 * answer never delays the next start); each answer's latency is POST → final state.
 */
async function endToEnd(base, apiKey, { count = 200, rate = 20 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const started = performance.now();
  const pending = [];
  for (let i = 0; i < count; i += 1) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(postOnce(agent, base, apiKey, { prefer: 'wait=10' }, 15_000));
  }
  const results = await Promise.all(pending);
  agent.destroy();
  const ok = results
    .filter((r) => r.status === 202 && r.recharge?.status === 'succeeded')
    .map((r) => r.ms)
    .sort((a, b) => a - b);
  const states = {};
  for (const r of results) {
    const k = r.error ? `error:${r.error}` : `${r.status}:${r.recharge?.status ?? '?'}`;
    states[k] = (states[k] ?? 0) + 1;
  }
  return {
    count,
    offeredRate: rate,
    succeeded: ok.length,
    outcomes: states,
    latencyMs: {
      p50: round(pct(ok, 50), 1),
      p90: round(pct(ok, 90), 1),
      p99: round(pct(ok, 99), 1),
      max: round(ok.at(-1) ?? NaN, 1),
    },
  };
}

/**
 * A truly steady rate: request i is due at start + i/rate and is sent then, whatever happened to
 * earlier ones (open loop, up to 256 in flight). Latency counts from the due time, so a late send
 * by the generator itself is charged too (no coordinated omission).
 */
async function paced(base, apiKey, { rate = 200, warmupSeconds = 2, seconds = 10 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const run = async (total, collect) => {
    const start = performance.now();
    const pending = [];
    for (let i = 0; i < total; i += 1) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait >= 1) await new Promise((r) => setTimeout(r, Math.floor(wait)));
      const sentLate = performance.now() - due;
      pending.push(
        postOnce(agent, base, apiKey, {}, 10_000).then(
          (r) =>
            collect && collect.push({ ...r, ms: r.ms + Math.max(0, sentLate), sentLate, second: Math.floor(i / rate) }),
        ),
      );
    }
    await Promise.all(pending);
    return (performance.now() - start) / 1000;
  };
  await run(rate * warmupSeconds, null);
  const results = [];
  const before = cpu.snapshot();
  const elapsed = await run(rate * seconds, results);
  const usage = cpu.usage(before);
  agent.destroy();
  const ok = results
    .filter((r) => r.status === 202)
    .map((r) => r.ms)
    .sort((a, b) => a - b);
  const lateSends = results.filter((r) => r.sentLate > 2).length;
  // Where the slow answers were: a few stalled seconds (GC, checkpoint, a neighbour) or all along.
  const slowBySecond = {};
  for (const r of results) if (r.ms > 25) slowBySecond[r.second] = (slowBySecond[r.second] ?? 0) + 1;
  // Diagnostic: the same latencies counted from the moment each request was actually sent, which
  // leaves out stalls of the generator itself (it shares the machine's cores with the service).
  const fromSend = results
    .filter((r) => r.status === 202)
    .map((r) => r.ms - Math.max(0, r.sentLate))
    .sort((a, b) => a - b);
  return {
    offeredRate: rate,
    achievedRate: round(results.length / elapsed, 1),
    completed: ok.length,
    non2xx: results.length - ok.length,
    errors: results.filter((r) => r.status === 0).length,
    generatorLateOver2ms: lateSends,
    over25msBySecond: slowBySecond,
    slowSentOver10msLate: results.filter((r) => r.ms > 25 && r.sentLate > 10).length,
    latencyFromSendMs: { p50: round(pct(fromSend, 50), 1), p99: round(pct(fromSend, 99), 1) },
    latencyMs: {
      p50: round(pct(ok, 50), 1),
      p90: round(pct(ok, 90), 1),
      p99: round(pct(ok, 99), 1),
      max: round(ok.at(-1) ?? NaN, 1),
    },
    cpu: usage,
  };
}

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

module.exports = { ingest, paced, fill, endToEnd };
