import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { trace } from '@opentelemetry/api';
import { BssSimulator, createBssSimulator } from '../../libs/bss-simulator';
import { startTracing, tracingConfigured } from '../../src/observability/tracing';
import { createTestDatabase } from '../support/database';
import { createClientWithCli, runNode, ServiceProcessHandle, startCompiledService } from '../support/node-process';
import { compiledService } from '../support/private-build';

/**
 * OpenTelemetry patches modules as Node's own loader requires them, which jest's module registry
 * bypasses, so the traced service runs as a child process of the compiled build:
 * - test/support/trace-probe.js starts tracing with an in-memory exporter before anything else,
 *   boots the app as src/main.ts does, drives one recharge and prints the finished spans;
 * - `node <build>/src/main.js` itself, configured only by OTEL_* variables, exporting OTLP/HTTP
 *   to a collector stub in this test.
 */

const PROBE = resolve(__dirname, '../support/trace-probe.js');
const MARKER = '@@TRACE-PROBE@@';
// The first suite of a run compiles the service (about 10 s, longer on a busy machine); the others reuse it.
const BUILD_MS = 180_000;

interface SpanJson {
  name: string;
  kind: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
  scope: string;
}

let build: string;

beforeAll(() => {
  build = compiledService();
}, BUILD_MS);

describe('tracingConfigured / startTracing without OTEL_* variables', () => {
  it('is off unless an exporter or an OTLP endpoint is configured the standard way', () => {
    expect(tracingConfigured({})).toBe(false);
    expect(
      tracingConfigured({ OTEL_SERVICE_NAME: 'alicloud-recharge', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
    ).toBe(false);
    expect(tracingConfigured({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracingConfigured({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(
      tracingConfigured({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }),
    ).toBe(false);
    expect(tracingConfigured({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBe(false);
  });

  it('starts no SDK: the tracing API stays a no-op', () => {
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith('OTEL_')) delete process.env[name];
    try {
      expect(startTracing()).toBeNull();
      const span = trace.getTracer('test').startSpan('anything');
      expect(span.isRecording()).toBe(false);
      span.end();
    } finally {
      process.env = saved;
    }
  });
});

describe('one trace from the POST to the provider call (compiled service, in-memory exporter)', () => {
  let probe: {
    rechargeId: string;
    callerTraceId: string;
    callerSpanId: string;
    simulatorUrl: string;
    response: { status: number; body: any };
    spans: SpanJson[];
  };
  let logs: Array<Record<string, any>>;
  let spans: SpanJson[];
  let byId: Map<string, SpanJson>;
  const ancestors = (span: SpanJson): SpanJson[] => {
    const chain: SpanJson[] = [];
    for (
      let p = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
      p;
      p = p.parentSpanId ? byId.get(p.parentSpanId) : undefined
    )
      chain.push(p);
    return chain;
  };
  const one = (predicate: (s: SpanJson) => boolean, what: string): SpanJson => {
    const found = spans.filter(predicate);
    if (found.length !== 1)
      throw new Error(`expected exactly one ${what}, found ${found.length}: ${spans.map((s) => s.name).join(', ')}`);
    return found[0];
  };

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    const run = await runNode(PROBE, [build], { DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' });
    if (run.code !== 0)
      throw new Error(`trace probe exited ${run.code}:\n${run.stdout.slice(-4000)}\n${run.stderr.slice(-4000)}`);
    const lines = run.stdout.split('\n');
    const marked = lines.filter((l) => l.startsWith(`${MARKER} `));
    expect(marked).toHaveLength(1);
    probe = JSON.parse(marked[0].slice(MARKER.length + 1));
    logs = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    spans = probe.spans.filter((s) => s.traceId === probe.callerTraceId);
    byId = new Map(spans.map((s) => [s.spanId, s]));
  }, 60_000);

  it('the recharge succeeded within the request (Prefer: wait)', () => {
    expect(probe.response.status).toBe(202);
    expect(probe.response.body).toMatchObject({ id: probe.rechargeId, state: 'SUCCEEDED' });
  });

  it('the HTTP server span continues the caller traceparent and names the route', () => {
    const server = one(
      (s) => s.kind === 'SERVER' && s.attributes['url.path'] === '/v1/recharges',
      'server span for POST /v1/recharges',
    );
    expect(server).toMatchObject({
      name: 'POST /v1/recharges',
      scope: '@opentelemetry/instrumentation-http',
      parentSpanId: probe.callerSpanId,
      attributes: expect.objectContaining({
        'http.request.method': 'POST',
        'http.route': '/v1/recharges',
        'http.response.status_code': 202,
      }),
    });
    // @fastify/otel registered itself with Nest's Fastify instance: the route's request span is under it.
    const fastifyRequest = one((s) => s.scope === '@fastify/otel' && s.name === 'request', 'fastify request span');
    expect(fastifyRequest.parentSpanId).toBe(server.spanId);
    expect(fastifyRequest.attributes).toMatchObject({
      'http.route': '/v1/recharges',
      'http.response.status_code': 202,
    });
  });

  it('the request’s database work shows as pg query spans in the same trace, the INSERT among them', () => {
    const server = one((s) => s.name === 'POST /v1/recharges', 'server span');
    const queries = spans.filter((s) => s.scope === '@opentelemetry/instrumentation-pg' && s.kind === 'CLIENT');
    expect(queries.length).toBeGreaterThan(5);
    for (const q of queries) expect(q.attributes['db.system.name'] ?? q.attributes['db.system']).toBe('postgresql');
    const insert = queries.filter((q) =>
      /INSERT INTO recharges/i.test(String(q.attributes['db.query.text'] ?? q.attributes['db.statement'])),
    );
    expect(insert).toHaveLength(1);
    expect(ancestors(insert[0])).toContainEqual(server);
  });

  it('recharge.dispatch (worker) joins the trace of the POST; under it the provider call and its HTTP client span', () => {
    const server = one((s) => s.name === 'POST /v1/recharges', 'server span');
    const dispatch = one((s) => s.name === 'recharge.dispatch', 'recharge.dispatch span');
    expect(dispatch.attributes).toEqual({ 'recharge.id': probe.rechargeId });
    expect(ancestors(dispatch)).toContainEqual(server);

    const provider = one((s) => s.name === 'BssOpenApi/ChangeResellerConsumeAmount', 'provider span');
    expect(provider.parentSpanId).toBe(dispatch.spanId);
    expect(provider.attributes).toEqual(
      expect.objectContaining({
        'rpc.system': 'alibaba_cloud_pop',
        'rpc.service': 'BssOpenApi',
        'rpc.method': 'ChangeResellerConsumeAmount',
        'recharge.id': probe.rechargeId,
        'provider.outcome': 'succeeded',
      }),
    );
    expect(provider.attributes).not.toHaveProperty('provider.code');

    const simulatorPort = Number(new URL(probe.simulatorUrl).port);
    const outgoing = one(
      (s) => s.kind === 'CLIENT' && s.scope === '@opentelemetry/instrumentation-http',
      'outgoing HTTP client span',
    );
    expect(outgoing.parentSpanId).toBe(provider.spanId);
    expect(outgoing.attributes).toMatchObject({
      'http.request.method': 'POST',
      'server.port': simulatorPort,
      'http.response.status_code': 200,
    });
    // The traceparent went on the wire: the (in-process) simulator's server span is its child.
    const atSimulator = one(
      (s) => s.kind === 'SERVER' && s.attributes['server.port'] === simulatorPort,
      'simulator server span',
    );
    expect(atSimulator.parentSpanId).toBe(outgoing.spanId);
  });

  it('the trace is one tree: every span but the server span has its parent in it', () => {
    const roots = spans.filter((s) => !s.parentSpanId || !byId.has(s.parentSpanId));
    expect(roots.map((s) => s.name)).toEqual(['POST /v1/recharges']);
  });

  it('the background pollers start no traces of their own: database spans exist only inside a trace', () => {
    const elsewhere = probe.spans.filter((s) => s.traceId !== probe.callerTraceId);
    const orphanQueries = elsewhere.filter((s) => /instrumentation-(pg|knex)/.test(s.scope));
    // The dispatcher polls every 200 ms from start-up; without requireParentSpan each claim was a trace.
    expect(orphanQueries.map((s) => s.name)).toEqual([]);
  });

  it('log lines written during the request and the dispatch carry its trace id and span id', () => {
    const server = one((s) => s.name === 'POST /v1/recharges', 'server span');
    const dispatch = one((s) => s.name === 'recharge.dispatch', 'recharge.dispatch span');
    const completed = logs.find((l) => l.msg === 'request completed' && l.req?.url === '/v1/recharges');
    // The access line is written by Fastify's onResponse hook, inside that hook's span under the server span.
    expect(completed).toMatchObject({ trace_id: probe.callerTraceId, trace_flags: '01', res: { statusCode: 202 } });
    const loggedAt = byId.get(completed!.span_id)!;
    expect(loggedAt.name).toMatch(/^onResponse/);
    expect(ancestors(loggedAt)).toContainEqual(server);
    const created = logs.find((l) => l.rechargeId === probe.rechargeId && l.to === 'CREATED');
    expect(created).toMatchObject({ trace_id: probe.callerTraceId, correlationId: completed!.correlationId });
    const succeeded = logs.find((l) => l.rechargeId === probe.rechargeId && l.to === 'SUCCEEDED');
    expect(succeeded).toMatchObject({ trace_id: probe.callerTraceId });
    const loggedIn = byId.get(succeeded!.span_id)!;
    expect(loggedIn === dispatch || ancestors(loggedIn).includes(dispatch)).toBe(true);
  });
});

describe('the service as deployed: OTLP export configured by OTEL_* variables only', () => {
  interface Received {
    name: string;
    traceId: string;
    spanId: string;
    parentSpanId: string;
    attributes: Record<string, unknown>;
    serviceName: unknown;
  }
  const received: Received[] = [];
  let collector: Server;
  let sim: BssSimulator;
  let service: ServiceProcessHandle | undefined;

  beforeAll(async () => {
    // An OTLP/HTTP (JSON) collector: the spans the service exports, as they arrive.
    collector = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (req.url === '/v1/traces') {
          for (const rs of JSON.parse(body).resourceSpans ?? []) {
            const serviceName = rs.resource?.attributes?.find((a: any) => a.key === 'service.name')?.value?.stringValue;
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                const attributes = Object.fromEntries(
                  (s.attributes ?? []).map((a: any) => [a.key, Object.values(a.value ?? {})[0]]),
                );
                received.push({
                  name: s.name,
                  traceId: s.traceId,
                  spanId: s.spanId,
                  parentSpanId: s.parentSpanId ?? '',
                  attributes,
                  serviceName,
                });
              }
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    sim = await createBssSimulator({ port: 0 });
  });

  afterAll(async () => {
    await service?.kill();
    await sim?.close();
    await new Promise((r) => collector?.close(r));
  });

  it('exports the whole trace, and flushes the spans still batched when SIGTERM arrives', async () => {
    const databaseUrl = await createTestDatabase();
    const [client, started] = await Promise.all([
      createClientWithCli(build, databaseUrl),
      startCompiledService(build, {
        DATABASE_URL: databaseUrl,
        PROVIDER: 'simulator',
        ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
        OTEL_SERVICE_NAME: 'alicloud-recharge-under-test',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
        // Nothing is exported on the batch timer during this test: only the shutdown flush can deliver.
        OTEL_BSP_SCHEDULE_DELAY: '60000',
        OTEL_BSP_MAX_QUEUE_SIZE: '100000',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '100000',
        LOG_LEVEL: 'info',
        SHUTDOWN_DRAIN_DELAY_MS: '0',
        SHUTDOWN_GRACE_MS: '2000',
      }),
    ]);
    service = started;
    const res = await fetch(`${service.url}/v1/recharges`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${client.apiKey}`,
        'content-type': 'application/json',
        'idempotency-key': 'otlp-1',
        prefer: 'wait=10',
      },
      body: JSON.stringify({ accountId: '1234567890123456', amount: 100, currency: 'CNY' }),
    });
    const body = (await res.json()) as { id: string; state: string };
    expect(body).toMatchObject({ state: 'SUCCEEDED' });
    expect(received.filter((s) => s.name === 'recharge.dispatch')).toEqual([]);

    service.signal('SIGTERM');
    expect((await service.exited).code).toBe(0);

    const dispatch = received.filter((s) => s.name === 'recharge.dispatch' && s.attributes['recharge.id'] === body.id);
    expect(dispatch).toHaveLength(1);
    const traceId = dispatch[0].traceId;
    const inTrace = received.filter((s) => s.traceId === traceId);
    expect(inTrace.map((s) => s.name)).toEqual(
      expect.arrayContaining(['POST /v1/recharges', 'recharge.dispatch', 'BssOpenApi/ChangeResellerConsumeAmount']),
    );
    expect(inTrace.find((s) => s.name === 'BssOpenApi/ChangeResellerConsumeAmount')).toMatchObject({
      parentSpanId: dispatch[0].spanId,
      attributes: expect.objectContaining({ 'recharge.id': body.id, 'provider.outcome': 'succeeded' }),
    });
    expect(new Set(received.map((s) => s.serviceName))).toEqual(new Set(['alicloud-recharge-under-test']));

    // The service's own log line for that request carries the same trace id.
    const completed = service
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'request completed' && l.req?.url === '/v1/recharges');
    expect(completed).toMatchObject({ trace_id: traceId });
  }, 60_000);
});
