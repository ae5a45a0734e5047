import './instrument';
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { loadConfig } from '../config/app-config';
import { createBssSimulator } from '../libs/bss-simulator';
import { createApp } from './bootstrap';
import { AuthenticateClientUseCase } from './clients/application/authenticate-client.use-case';
import { ManageClientsUseCase } from './clients/application/manage-clients.use-case';
import { resolveDatabaseUrl, simulatorPort } from './database/database-url';
import { runMigrations } from './database/migrations';
import { Lifecycle } from './health/lifecycle';
import { redactSecrets } from '../libs/shared/redact';
import { createLogger } from './observability/logging';
import { startMetricsServer } from './observability/metrics-server';
import { PrometheusTelemetry } from './observability/prometheus-telemetry';
import { stopTracing } from './observability/tracing';
import { demoApiKey } from './startup/demo-client';
import { startupBanner } from './startup/startup-banner';
import { describeStartupFailure } from './startup/startup-failure';

async function main(): Promise<void> {
  let config = loadConfig();
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  // The process's own lifecycle (listening, draining, stopped) is logged whatever LOG_LEVEL says:
  // supervisors and tests wait for these lines, and a quiet service still says when it starts and stops.
  const lifecycleLogger = createLogger('info', undefined, config.logFormat);
  const log = (msg: string) => lifecycleLogger.info(msg);
  const warn = (msg: string) => lifecycleLogger.warn(msg);
  for (const w of config.warnings) warn(w);

  let closeSimulator = async () => undefined as void;
  if (config.simulatorEmbedded) {
    // Newcomer mode: a faithful BSS endpoint in this process, so the whole flow runs with no keys.
    // It also plays the notification relay: signed CloudEvents to our own webhook endpoint.
    const webhookSecret = config.providerWebhookSecrets[0] ?? `whsec_${randomBytes(32).toString('base64')}`;
    const simulator = await createBssSimulator({
      port: simulatorPort(),
      rateLimitPerSecond: Math.max(10, config.providerMaxRps),
      notify: { url: `http://127.0.0.1:${config.port}/webhooks/alibaba-cloud`, secret: webhookSecret },
    });
    config = {
      ...config,
      providerWebhookSecrets: [...new Set([...config.providerWebhookSecrets, webhookSecret])],
      alibabaCloud: { ...config.alibabaCloud, endpoint: simulator.url },
    };
    closeSimulator = () => simulator.close();
    log(`BSS simulator listening on ${simulator.url}`);
  }

  const database = await resolveDatabaseUrl(config, log);
  if (config.migrateOnStart) {
    const applied = await runMigrations(database.url, (msg) => logger.debug(msg));
    if (applied.length > 0) log(`applied ${applied.length} database migration(s), the last ${applied.at(-1)}`);
  } else {
    log('MIGRATE_ON_START=false: not migrating (readiness waits until the migration Job has applied them)');
  }
  const app = await createApp(config, database.url);
  await app.listen({ port: config.port, host: '0.0.0.0' });
  log(`alicloud-recharge listening on http://localhost:${config.port} (provider: ${config.provider})`);
  const metrics =
    config.metricsPort === null
      ? null
      : await startMetricsServer(app.get(PrometheusTelemetry).registry, config.metricsPort);
  if (metrics) log(`metrics on http://localhost:${metrics.port}/metrics (not on the API port)`);

  // A demo key only with the embedded database: that is a developer's machine, never a deployment.
  const demo = database.embedded
    ? {
        dataDir: resolve(config.dataDir),
        apiKey: await demoApiKey(config.dataDir, {
          manage: app.get(ManageClientsUseCase),
          authenticate: app.get(AuthenticateClientUseCase),
        }),
      }
    : null;
  // Plain text for a person; a deployment's log pipeline (no terminal, no demo) gets JSON lines only.
  if (demo || process.stdout.isTTY)
    process.stdout.write(startupBanner({ port: config.port, demo, simulated: config.simulatorEmbedded }));

  const lifecycle = app.get(Lifecycle);
  const settings = config;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Readiness first: a log write can block on a full stdout pipe.
    lifecycle.startDraining();
    log(`${signal} received: readiness now fails; draining for ${settings.shutdownDrainDelayMs} ms`);
    const force = setTimeout(() => {
      warn(`shutdown grace of ${settings.shutdownGraceMs} ms exceeded; exiting with work left resumable`);
      process.exit(0);
    }, settings.shutdownDrainDelayMs + settings.shutdownGraceMs).unref();
    await new Promise((r) => setTimeout(r, settings.shutdownDrainDelayMs));
    await app.close();
    await metrics?.close();
    await closeSimulator();
    await database.stop();
    // Without this the spans still batched for export (the requests and provider calls of the
    // last few seconds, in-flight work finished during the grace period included) are lost.
    await stopTracing();
    clearTimeout(force);
    log('shutdown complete');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // The terminal that ran `npm start` closed: same orderly stop (the default would leave the
  // embedded PostgreSQL running without its owner).
  process.on('SIGHUP', () => void shutdown('SIGHUP'));
}

main().catch((err) => {
  process.stderr.write(`${redactSecrets(describeStartupFailure(err))}\n`);
  process.exit(1);
});
