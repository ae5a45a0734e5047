import type { NodeSDK, NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { Attributes, Span, SpanStatusCode, trace } from '@opentelemetry/api';

let sdk: NodeSDK | null = null;

/**
 * Tracing is on when an exporter is configured the standard way (OTEL_TRACES_EXPORTER other than
 * "none", or an OTLP endpoint); otherwise nothing is started and the API stays a no-op.
 */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return Boolean(env.OTEL_TRACES_EXPORTER || env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export function startTracing(extra: Partial<NodeSDKConfiguration> = {}, force = false): NodeSDK | null {
  if (sdk || (!force && !tracingConfigured())) return sdk;
  // Loaded only when tracing is on: the SDK and the instrumentations cost ~40 MB of memory and
  // most of a second of start time. Synchronous, so they patch modules before anything loads them.
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { getNodeAutoInstrumentations } =
    require('@opentelemetry/auto-instrumentations-node') as typeof import('@opentelemetry/auto-instrumentations-node');
  const { FastifyOtelInstrumentation } = require('@fastify/otel') as typeof import('@fastify/otel');
  sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? 'alicloud-recharge',
    instrumentations: [
      getNodeAutoInstrumentations({
        // Noise without value for this service: every file read and DNS lookup.
        '@opentelemetry/instrumentation-fs': { enabled: false },
        '@opentelemetry/instrumentation-dns': { enabled: false },
        '@opentelemetry/instrumentation-net': { enabled: false },
        // Database spans only inside a request's or a recharge's trace: the pollers (dispatcher
        // claims, callback and reconciliation loops) would otherwise start a trace every 200 ms.
        '@opentelemetry/instrumentation-pg': { requireParentSpan: true },
        '@opentelemetry/instrumentation-knex': { requireParentSpan: true },
      }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (o: { url: string }) => o.url.startsWith('/health') || o.url === '/metrics',
      }),
    ],
    ...extra,
  });
  sdk.start();
  return sdk;
}

/**
 * Exports what is still batched (the last seconds of spans) and stops the SDK. Bounded, so an
 * unreachable collector cannot hold up a shutdown.
 */
export async function stopTracing(timeoutMs = 3000): Promise<void> {
  const current = sdk;
  sdk = null;
  if (!current) return;
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([current.shutdown().catch(() => undefined), gaveUp]);
  clearTimeout(timer);
}

const tracer = () => trace.getTracer('alicloud-recharge');

/** Runs `work` inside a span of our own; records exceptions and ends the span either way. */
export async function withSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message.slice(0, 200) : String(err),
      });
      throw err;
    } finally {
      span.end();
    }
  });
}
