import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config';
import { assertNoAsyncConstraints, validationPipe } from './api/dto/validation';
import { setupOpenApi } from './api/openapi';
import { ProblemFilter, rechargeRequestOutcome } from './api/problem.filter';
import { RechargeTelemetry } from './recharge/application/ports/recharge-telemetry';
import { Lifecycle } from './health/lifecycle';
import { AppModule } from './app.module';
import { createLogger, logRequestCompleted, PinoNestLogger, requestLogContext } from './observability/logging';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const BODY_LIMIT_BYTES = 64 * 1024;
export const CONNECTION_IDLE_TIMEOUT_MS = 65_000;

/** Builds the HTTP application (not listening yet); shared by main, the e2e tests and the bench. */
export async function createApp(
  config: AppConfig,
  databaseUrl: string,
  logs: false | undefined = undefined,
): Promise<NestFastifyApplication> {
  const quiet = logs === false;
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    // A client gets REQUEST_TIMEOUT_MS to send its whole request (slow-loris headers or bodies are
    // cut); an idle connection lives past the longest Prefer: wait (30 s), then is closed.
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: CONNECTION_IDLE_TIMEOUT_MS,
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.requestTimeoutMs,
      // Node checks the request timeout on this period (30 s by default, which would double it).
      connectionsCheckingInterval: Math.min(1000, config.requestTimeoutMs),
    },
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      // Kept on the raw request too, so the request logger reuses the same correlation id.
      (req as IncomingMessage & { id: string }).id = id;
      return id;
    },
  });
  const fastify = adapter.getInstance();
  const logger = createLogger(quiet ? 'silent' : config.logLevel, undefined, config.logFormat);
  // Log lines written while a request is handled carry its correlation id. Set once the body is
  // parsed: the parser's callbacks run in the socket's async context, which would lose it.
  fastify.addHook('preValidation', (request, _reply, done) =>
    requestLogContext.run({ correlationId: request.id }, done),
  );
  let telemetry: RechargeTelemetry | null = null;
  let lifecycle: Lifecycle | null = null;
  // Once draining, every answer closes its connection: keep-alive clients reconnect (to a replica
  // that is not going away), and no idle connection outlives the server close, which would hold
  // up the shutdown until the grace period kills the process.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (lifecycle?.draining) reply.header('Connection', 'close');
    done(null, payload);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    logRequestCompleted(logger, request, reply);
    if (request.method === 'POST' && request.routeOptions.url === '/v1/recharges')
      telemetry?.requestOutcome(rechargeRequestOutcome(reply.statusCode));
    done();
  });
  // Our own body parser replaces Nest's: JSON only (no urlencoded bodies anywhere), the raw bytes
  // kept for webhook signatures, and on the webhook route a parse error is left for the handler,
  // so an unsigned body is answered 401 before a malformed one is answered 400.
  const parseJson = fastify.getDefaultJsonParser('error', 'error') as unknown as (
    req: unknown,
    body: Buffer,
    done: (err: Error | null, parsed?: unknown) => void,
  ) => void;
  const parser = (req: FastifyRequest, body: Buffer, done: (err: Error | null, parsed?: unknown) => void) =>
    parseJson(req, body, (err, parsed) => {
      if (err && req.url.startsWith('/webhooks/')) {
        (req as FastifyRequest & { bodyParseError?: boolean }).bodyParseError = true;
        return done(null, undefined);
      }
      if (err) (err as Error & { statusCode?: number }).statusCode = 400;
      done(err, parsed);
    });
  adapter.useBodyParser('application/json', true, { bodyLimit: BODY_LIMIT_BYTES }, parser as never);
  fastify.addContentTypeParser(
    /^application\/[\w.-]+\+json/,
    { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES },
    (req, body, done) => {
      (req as FastifyRequest & { rawBody?: Buffer }).rawBody = body as Buffer;
      parser(req, body as Buffer, done);
    },
  );
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    // Only JSON bodies are accepted; refusing before parsing keeps form or text bodies out entirely.
    const hasBody =
      Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
    const type = request.headers['content-type'] ?? '';
    if (
      hasBody &&
      (request.url.startsWith('/v1/') || request.url.startsWith('/admin/')) &&
      !/^application\/([\w.+-]*\+)?json\s*(;|$)/i.test(type)
    ) {
      const error = Object.assign(new Error('Content-Type must be application/json'), { statusCode: 415 });
      throw error;
    }
  });

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot({ config, databaseUrl }), adapter, {
    rawBody: true,
    logger: quiet ? false : new PinoNestLogger(logger),
    abortOnError: false,
  });
  telemetry = app.get(RechargeTelemetry);
  lifecycle = app.get(Lifecycle);
  app.useGlobalFilters(new ProblemFilter());
  assertNoAsyncConstraints();
  app.useGlobalPipes(validationPipe);
  // No app.enableShutdownHooks(): with an empty list Nest listens to EVERY signal and, on SIGTERM,
  // closes the listener as soon as in-flight dispatches finish, cutting the drain delay short.
  // main.ts owns the signals (readiness 503, drain, then app.close(), which runs the same hooks).

  setupOpenApi(app);
  return app;
}
