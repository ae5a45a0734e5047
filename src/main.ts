import './instrument';
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { AppConfig, ConfigError, loadConfig } from '../config/app-config';
import { createBssSimulator } from '../libs/bss-simulator';
import { createApp } from './bootstrap';
import { ManageClientsUseCase } from './clients/application/manage-clients.use-case';
import { resolveDatabaseUrl, simulatorPort } from './database/database-url';
import { runMigrations } from './database/migrations';
import { Lifecycle } from './health/lifecycle';
import { redactSecrets } from '../libs/shared/redact';
import { writePlainLogLine } from './observability/logging';
import { startMetricsServer } from './observability/metrics-server';
import { PrometheusTelemetry } from './observability/prometheus-telemetry';
import { stopTracing } from './observability/tracing';

const log = (msg: string) => writePlainLogLine('info', msg);
const warn = (msg: string) => writePlainLogLine('warn', msg);

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
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
  if (config.migrateOnStart) await runMigrations(database.url, log);
  else log('MIGRATE_ON_START=false: not migrating (readiness waits until the migration Job has applied them)');
  const app = await createApp(config, database.url);
  await app.listen({ port: config.port, host: '0.0.0.0' });
  log(`alicloud-recharge listening on http://localhost:${config.port} (provider: ${config.provider})`);
  const metrics =
    config.metricsPort === null
      ? null
      : await startMetricsServer(app.get(PrometheusTelemetry).registry, config.metricsPort);
  if (metrics) log(`metrics on http://localhost:${metrics.port}/metrics (not on the API port)`);

  if (process.argv.includes('--demo')) {
    const { apiKey } = await app.get(ManageClientsUseCase).create('demo', ['*']);
    process.stdout.write(
      [
        '',
        'Demo client created (all accounts). Its API key is shown only now:',
        `  ${apiKey}`,
        'Try:',
        `  curl -s -X POST http://localhost:${config.port}/v1/recharges \\`,
        `    -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' \\`,
        `    -H 'Idempotency-Key: demo-1' -H 'Prefer: wait=10' \\`,
        `    -d '{"accountId":"1234567890123456","amount":4999,"currency":"CNY"}'`,
        `  API docs: http://localhost:${config.port}/docs`,
        '',
      ].join('\n') + '\n',
    );
  }

  const lifecycle = app.get(Lifecycle);
  const settings = config;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received: readiness now fails; draining for ${settings.shutdownDrainDelayMs} ms`);
    lifecycle.startDraining();
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
}

main().catch((err) => {
  process.stderr.write(`fatal: ${redactSecrets(err instanceof Error ? String(err.stack) : String(err))}\n`);
  process.exit(1);
});
