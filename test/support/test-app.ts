import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppConfig, loadConfig } from '../../config/app-config';
import { createApp } from '../../src/bootstrap';
import { ManageClientsUseCase } from '../../src/clients/application/manage-clients.use-case';
import { createTestDatabase } from './database';
import { openApiAgent, OpenApiAgent, OpenApiValidator } from './openapi-validator';

export interface TestApp {
  app: NestFastifyApplication;
  /** supertest, with every answer checked against the served OpenAPI document (see openapi-validator). */
  http: OpenApiAgent;
  openapi: OpenApiValidator;
  databaseUrl: string;
  config: AppConfig;
  createClient(accounts?: string[]): Promise<{ clientId: string; apiKey: string; webhookSecret: string }>;
  close(): Promise<void>;
}

/** The real application on a private real database, driven through HTTP by supertest. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  return startTestAppOn(await createTestDatabase(), env);
}

/**
 * The real application on a database the caller chose, so several instances (replicas) can share
 * one. Same shape as startTestApp; it leaves the database alone on close.
 */
export async function startTestAppOn(databaseUrl: string, env: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    DISPATCHER_ENABLED: 'false',
    RULES_ENABLED: 'false',
    CALLBACK_ALLOWED_HOSTS: 'hooks.example.com,*.callbacks.test',
    ...env,
  });
  const app: NestFastifyApplication = await createApp(config, databaseUrl, false);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const openapi = await OpenApiValidator.load(app.getHttpServer());
  return {
    app,
    http: openApiAgent(app.getHttpServer(), openapi),
    openapi,
    databaseUrl,
    config,
    async createClient(accounts = ['*']) {
      const { client, apiKey, webhookSecret } = await app.get(ManageClientsUseCase).create('test client', accounts);
      return { clientId: client.id, apiKey, webhookSecret };
    },
    close: () => app.close(),
  };
}
