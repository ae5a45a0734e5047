import { BssSimulator, createBssSimulator } from '../../libs/bss-simulator';
import { createTestDatabase, query } from '../support/database';
import { createClientWithCli, ServiceProcessHandle, startCompiledService } from '../support/node-process';
import { compiledService } from '../support/private-build';
import { sleep } from '../support/wait';

/**
 * Graceful shutdown under load (docs/operations.md), on the compiled service as its own process:
 * a steady stream of POSTs while the provider (simulator) takes 300 ms per call, then SIGTERM.
 * Readiness must fail at once while requests are still served for the drain delay, the process
 * must exit 0 within drain delay + grace, and every accepted recharge must be either final or
 * safely resumable, so that one restart finishes all of them with each OutBizId applied once.
 */

// The first suite of a run compiles the service (about 10 s, longer on a busy machine); the others reuse it.
const BUILD_MS = 180_000;
const DRAIN_DELAY_MS = 1000;
const GRACE_MS = 5000;
const READY_503_WITHIN_MS = 250; // "at once": the first probe after the signal, give or take a busy CI machine
const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELED'];

interface Probe {
  sentAt: number;
  doneAt: number;
  status: number | null;
  error?: string;
  id?: string;
}

let build: string;
let databaseUrl: string;
let sim: BssSimulator;
let apiKey: string;
let service: ServiceProcessHandle | undefined;

const env = () => ({
  DATABASE_URL: databaseUrl,
  PROVIDER: 'simulator',
  ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
  PROVIDER_MAX_RPS: '50',
  CLIENT_RATE_LIMIT_RPS: '100000',
  SHUTDOWN_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
  SHUTDOWN_GRACE_MS: String(GRACE_MS),
  LOG_LEVEL: 'warn',
});

async function timed(url: string, init: RequestInit = {}): Promise<Probe> {
  const sentAt = Date.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const id = res.status === 202 ? (JSON.parse(text) as { id: string }).id : undefined;
    return { sentAt, doneAt: Date.now(), status: res.status, id };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { sentAt, doneAt: Date.now(), status: null, error: cause ?? (err as Error).message };
  }
}

/** Runs `step` back to back until stopped or until the service stops answering at all. */
function loop(step: () => Promise<Probe>, into: Probe[], pauseMs: number) {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const probe = await step();
      into.push(probe);
      if (probe.status === null && probe.error === 'ECONNREFUSED') return;
      await sleep(pauseMs);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
    done,
  };
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Fires `step` every `everyMs` whatever the previous one is doing, as a prober does, until stopped. */
function every(everyMs: number, step: () => Promise<Probe>, into: Probe[]) {
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const p: Promise<void> = step().then((probe) => {
      into.push(probe);
      pending.delete(p);
    });
    pending.add(p);
  }, everyMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await Promise.all([...pending]);
    },
  };
}

beforeAll(async () => {
  build = compiledService();
  databaseUrl = await createTestDatabase();
  sim = await createBssSimulator({ port: 0, latencyMs: 300, rateLimitPerSecond: 1000 });
  ({ apiKey } = await createClientWithCli(build, databaseUrl));
}, BUILD_MS);

afterAll(async () => {
  await service?.kill();
  await sim?.close();
});

it('SIGTERM under load: ready 503 at once, still serving during the drain, exit 0, nothing lost; a restart finishes every recharge exactly once', async () => {
  service = await startCompiledService(build, env());
  const url = service.url;
  let key = 0;
  const posts: Probe[] = [];
  const ready: Probe[] = [];
  const live: Probe[] = [];
  const post = () =>
    timed(`${url}/v1/recharges`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/json',
        'idempotency-key': `shutdown-${++key}`,
      },
      body: JSON.stringify({ accountId: '1234567890123456', amount: 100 + (key % 50), currency: 'CNY' }),
    });

  // Load: three clients posting back to back; the provider side runs at most 50 calls/s of 300 ms.
  const load = [loop(post, posts, 20), loop(post, posts, 20), loop(post, posts, 20)];
  const probes = [
    every(20, () => timed(`${url}/health/ready`), ready),
    every(20, () => timed(`${url}/health/live`), live),
  ];
  await until(() => posts.filter((p) => p.status === 202).length >= 30 && ready.length >= 5, 15_000);
  expect(ready.every((p) => p.status === 200)).toBe(true);

  // The next provider calls take 2 s: they are still in flight when the drain delay ends, so
  // app.close() has to wait for them (within the grace period) instead of abandoning them.
  sim.addFaults([{ fault: 'delay', delayMs: 2000, count: 3 }]);
  await sleep(300);
  const signalAt = service.signal('SIGTERM');
  const exit = await service.exited;
  const shutdownMs = exit.at - signalAt;
  await Promise.all([...load, ...probes].map((l) => l.stop()));

  const during = (p: Probe) => p.sentAt >= signalAt && p.doneAt <= signalAt + DRAIN_DELAY_MS - 100;
  ready.sort((a, b) => a.doneAt - b.doneAt);
  const first503 = ready.find((p) => p.status === 503);
  const report = {
    shutdownMs,
    readyFailedAfterMs: first503 ? first503.doneAt - signalAt : null,
    postsAcceptedDuringDrain: posts.filter((p) => during(p) && p.status === 202).length,
    postsAccepted: posts.filter((p) => p.status === 202).length,
    postsRefused: posts.filter((p) => p.status === null).length,
  };
  console.log(`graceful shutdown under load: ${JSON.stringify(report)}`);

  // The process exits 0, after the drain delay and within drain delay + grace.
  expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
  expect(shutdownMs).toBeGreaterThanOrEqual(DRAIN_DELAY_MS);
  expect(shutdownMs).toBeLessThan(DRAIN_DELAY_MS + GRACE_MS + 1000);
  expect(service.output()).toContain('shutdown complete');

  // Readiness fails at once and stays failed; liveness and the API keep answering during the drain.
  expect(first503).toBeDefined();
  expect(first503!.doneAt - signalAt).toBeLessThanOrEqual(READY_503_WITHIN_MS);
  // (A probe sent in the same instant as the signal may still be answered before the handler runs.)
  expect(ready.filter((p) => p.sentAt >= signalAt + 20 && p.status !== null).map((p) => p.status)).not.toContain(200);
  expect(live.filter(during).length).toBeGreaterThan(3);
  expect(live.filter(during).every((p) => p.status === 200)).toBe(true);
  expect(posts.filter(during).length).toBeGreaterThan(3);
  expect(posts.filter(during).every((p) => p.status === 202)).toBe(true);
  // Afterwards a request is served, refused with 503 while the listener closes (Fastify answers that on
  // kept-alive connections; the request did nothing), or refused at the socket; nothing else.
  expect(
    posts.filter(
      (p) => p.status !== null && p.status !== 202 && !(p.status === 503 && p.sentAt >= signalAt + DRAIN_DELAY_MS),
    ),
  ).toEqual([]);

  // Every accepted recharge is stored, and final or resumable. Here the resumable ones are all
  // CREATED and due at once for whichever replica claims next: the dispatcher stopped claiming at
  // the signal and finished what it had claimed. (A call still running when the grace period ran
  // out would stay SUBMITTED under its lease, resumable once the lease expires.)
  const accepted = posts.filter((p) => p.status === 202).map((p) => p.id!);
  const rows = await query<{ id: string; state: string; next_attempt_at: Date }>(
    databaseUrl,
    'SELECT id, state, next_attempt_at FROM recharges',
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  expect(accepted.filter((id) => !byId.has(id))).toEqual([]);
  const afterExit = Date.now();
  const leftOpen = rows.filter((r) => !FINAL.includes(r.state));
  expect(leftOpen.filter((r) => r.state !== 'CREATED' || r.next_attempt_at.getTime() > afterExit)).toEqual([]);
  // The slow calls in flight at the signal were finished during the grace period, not abandoned.
  const finishedInGrace = sim.credits().filter((c) => Date.parse(c.appliedAt) > signalAt + DRAIN_DELAY_MS);
  expect(finishedInGrace.length).toBeGreaterThan(0);
  for (const c of finishedInGrace) expect(byId.get(c.outBizId)?.state).toBe('SUCCEEDED');
  expect(exit.at).toBeGreaterThan(Math.max(...finishedInGrace.map((c) => Date.parse(c.appliedAt))));
  const open = leftOpen.length;
  console.log(
    `after shutdown: ${rows.length} recharges stored, ${rows.length - open} final (${finishedInGrace.length} of them finished during the grace period), ${open} left resumable`,
  );

  // One restart finishes all of them, each credited exactly once at the provider.
  service = await startCompiledService(build, env());
  const deadline = Date.now() + 30_000;
  let states: Array<{ state: string; n: number }> = [];
  for (;;) {
    states = await query<{ state: string; n: number }>(
      databaseUrl,
      'SELECT state, count(*)::int AS n FROM recharges GROUP BY state',
    );
    if (states.every((s) => s.state === 'SUCCEEDED') || Date.now() > deadline) break;
    await sleep(200);
  }
  expect(states).toEqual([{ state: 'SUCCEEDED', n: rows.length }]);
  service.signal('SIGTERM');
  expect((await service.exited).code).toBe(0);

  const credits = sim.credits();
  expect(credits.map((c) => c.outBizId).sort()).toEqual(rows.map((r) => r.id).sort());
  expect(credits.filter((c) => c.timesApplied !== 1)).toEqual([]);
}, 120_000);
