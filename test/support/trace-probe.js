'use strict';
/**
 * Runs the COMPILED service with tracing on and an in-memory exporter, drives one recharge through
 * it and prints every finished span. Plain JavaScript run by `node`, because OpenTelemetry patches
 * modules as Node's own loader requires them, which jest's module registry bypasses.
 *
 *   node test/support/trace-probe.js <build dir, default dist/>
 *
 * Environment: DATABASE_URL (a migrated database), anything else the service reads.
 * Output: the service's own log lines, then one line `@@TRACE-PROBE@@ <json>` with
 * { rechargeId, callerTraceId, callerSpanId, simulatorUrl, response, spans: [{ name, kind, traceId, spanId, parentSpanId, attributes, scope, status }] }.
 */
const path = require('node:path');
const http = require('node:http');
const { randomBytes } = require('node:crypto');

const MARKER = '@@TRACE-PROBE@@';
const OUT = path.resolve(process.argv[2] || path.join(__dirname, '../../dist'));

// 1. Tracing first, exactly as src/instrument.ts does it, but exporting to memory only (no OTLP
//    log or metric exporters trying to reach a collector that is not there).
process.env.OTEL_LOGS_EXPORTER = process.env.OTEL_LOGS_EXPORTER || 'none';
process.env.OTEL_METRICS_EXPORTER = process.env.OTEL_METRICS_EXPORTER || 'none';
const { InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const exporter = new InMemorySpanExporter();
const tracing = require(path.join(OUT, 'src/observability/tracing'));
const sdk = tracing.startTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] }, true);
if (!sdk) throw new Error('startTracing(…, force) did not start an SDK');

// 2. Only now the application (http, pg, pino, fastify and Nest get patched as they load).
require('reflect-metadata');
const api = require('@opentelemetry/api');
const { suppressTracing } = require('@opentelemetry/core');
const { loadConfig } = require(path.join(OUT, 'config/app-config'));
const { createApp } = require(path.join(OUT, 'src/bootstrap'));
const { runMigrations } = require(path.join(OUT, 'src/database/migrations'));
const { ManageClientsUseCase } = require(path.join(OUT, 'src/clients/application/manage-clients.use-case'));
const { createBssSimulator } = require(path.join(OUT, 'libs/bss-simulator'));

const KIND = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A plain HTTP call that is itself not traced, like a caller outside this service. */
function call(url, method, headers, body) {
  return api.context.with(
    suppressTracing(api.context.active()),
    () =>
      new Promise((resolve, reject) => {
        const req = http.request(url, { method, headers }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () =>
            resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null }),
          );
        });
        req.on('error', reject);
        req.end(body);
      }),
  );
}

function toJson(span) {
  const parent = span.parentSpanContext ? span.parentSpanContext.spanId : span.parentSpanId;
  return {
    name: span.name,
    kind: KIND[span.kind] || String(span.kind),
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: parent || null,
    attributes: span.attributes,
    scope: (span.instrumentationScope || span.instrumentationLibrary || {}).name,
    status: span.status,
  };
}

async function main() {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is required');
  const simulator = await createBssSimulator({ port: 0 });
  // The way src/main.ts boots: config from the environment, migrations, createApp, listen.
  const config = loadConfig({
    ...process.env,
    PROVIDER: 'simulator',
    ALIBABA_CLOUD_BSS_ENDPOINT: simulator.url,
    SHUTDOWN_DRAIN_DELAY_MS: '0',
  });
  await runMigrations(databaseUrl);
  const app = await createApp(config, databaseUrl);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.getHttpServer().address();
  const { apiKey } = await app.get(ManageClientsUseCase).create('trace probe', ['*']);
  await sleep(300); // let start-up work (first dispatcher poll, LISTEN) finish its own traces
  exporter.reset();

  // The caller's own trace context, as an upstream service or gateway would send it.
  const callerTraceId = randomBytes(16).toString('hex');
  const callerSpanId = randomBytes(8).toString('hex');
  const body = JSON.stringify({ accountId: '1234567890123456', amount: 4999, currency: 'CNY' });
  const response = await call(
    `http://127.0.0.1:${port}/v1/recharges`,
    'POST',
    {
      authorization: `Bearer ${apiKey}`,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'idempotency-key': `trace-probe-${callerSpanId}`,
      prefer: 'wait=10',
      traceparent: `00-${callerTraceId}-${callerSpanId}-01`,
    },
    body,
  );
  const rechargeId = response.body && response.body.id;

  // The dispatch span ends just after the SUCCEEDED commit the response waited for.
  const deadline = Date.now() + 5000;
  while (
    Date.now() < deadline &&
    !exporter
      .getFinishedSpans()
      .some((s) => s.name === 'recharge.dispatch' && s.attributes['recharge.id'] === rechargeId)
  ) {
    await sleep(25);
  }
  await sleep(200);
  await sdk.forceFlush?.();
  const spans = exporter.getFinishedSpans().map(toJson);
  process.stdout.write(
    `\n${MARKER} ${JSON.stringify({ rechargeId, callerTraceId, callerSpanId, simulatorUrl: simulator.url, response, spans })}\n`,
  );

  await app.close();
  await simulator.close();
  await tracing.stopTracing();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`trace probe failed: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
