import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import type { LoggerService } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DestinationStream, LoggerOptions, pino, Logger as PinoLogger, stdSerializers, stdTimeFunctions } from 'pino';
import { redactDeep, redactSecrets } from '../../libs/shared/redact';

/**
 * Paths pino blanks out wherever they appear in a log record. Secret-named fields one level down
 * (`*.apiKey`, `*.webhookSecret`, `*.accessKeySecret`, `*.accessKeyId`, `*.secret`, `*.password`)
 * are not listed: redactDeep, the log formatter below, already blanks every field whose name says
 * secret at any depth (SECRET_FIELD covers all six), and pino's wildcard paths cost a selective
 * clone of every record — ~22 µs of the ~55 µs of CPU the two info lines of a POST took.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["webhook-signature"]',
  'res.headers["set-cookie"]',
  'err.url',
  'err.entry',
  'err.data',
];

const QUIET_PATHS = new Set(['/health/live', '/health/ready', '/metrics']);

/** Error objects are scrubbed as text too: a provider message can carry a signed URL anywhere. */
function errorSerializer(err: Error) {
  const out = stdSerializers.err(err) as unknown as Record<string, unknown>;
  for (const key of ['message', 'stack']) {
    if (typeof out[key] === 'string') out[key] = redactSecrets(out[key] as string);
  }
  delete out.url;
  delete out.entry;
  delete out.data;
  return out;
}

/** What every log line written while serving a request carries (set by the request hook in bootstrap). */
export interface RequestLogContext {
  correlationId: string;
}

/**
 * The request a log line belongs to. Set with `run` by the Fastify preValidation hook in bootstrap,
 * so it follows the request into guards, use cases and repositories without being passed along.
 */
export const requestLogContext = new AsyncLocalStorage<RequestLogContext>();

/** `auto`: human-readable lines when stdout is a terminal, JSON lines otherwise (files, pipes, log shippers). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * The one pino logger of the process: JSON lines, the request's correlation id mixed in, secrets
 * redacted three ways: the known paths above; every field whose name says secret (password,
 * token, apiKey, signature…) at any depth; and credentials inside any string, the message
 * included (signed URLs, `user:password@`, rk_/whsec_ values, bearer tokens). In a terminal the
 * same records go through pino-pretty (a development dependency: where it is not installed, e.g.
 * the production image, the lines stay JSON). A `destination` (tests) always gets JSON.
 */
export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): PinoLogger {
  const options: LoggerOptions = {
    level,
    timestamp: stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: errorSerializer },
    formatters: { level: (label: string) => ({ level: label }), log: (record) => redactDeep(record) },
    hooks: {
      logMethod(args, method) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>,
        );
      },
    },
    // A copy: pino merges each record's own fields into what mixin returns, which would otherwise
    // pile one line's fields into every later line of the same request.
    mixin: () => ({ ...requestLogContext.getStore() }),
  };
  const pretty =
    !destination && (format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true))
      ? prettyStream()
      : null;
  if (destination) return pino(options, destination);
  return pretty ? pino(options, pretty) : pino(options);
}

/**
 * A log line written before the pino logger exists (start-up, migrations): same JSON shape, the
 * message scrubbed the same way.
 */
export function writePlainLogLine(level: 'info' | 'warn' | 'error', msg: string): void {
  const line = { level, time: new Date().toISOString(), msg: redactSecrets(msg) };
  (level === 'error' ? process.stderr : process.stdout).write(`${JSON.stringify(line)}\n`);
}

function prettyStream(): NodeJS.WritableStream | null {
  let build: (options: Record<string, unknown>) => NodeJS.WritableStream;
  try {
    build = createRequire(__filename)('pino-pretty') as typeof build;
  } catch {
    return null;
  }
  // Synchronous, so log lines and the start banner (plain stdout) keep their order.
  return build({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,context',
    messageFormat: '{if context}{context}: {end}{msg}',
    // One line per record, its fields after the message: a request is a few lines, not a page.
    singleLine: true,
  });
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const FRAMEWORK_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

/**
 * Nest's LoggerService over pino. Nest's `new Logger('Context').warn({ rechargeId }, 'message')`
 * arrives here as warn(object, 'message', 'Context'): the context is always the last argument.
 */
export class PinoNestLogger implements LoggerService {
  constructor(readonly pino: PinoLogger) {}

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(requested: Level, message: unknown, params: unknown[]): void {
    const rest = [...params];
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    // Nest narrates its own start (every module loaded, every route mapped: some 40 lines); that is
    // debugging detail, not news for whoever starts the service.
    const level = requested === 'info' && context && FRAMEWORK_CONTEXTS.has(context) ? 'debug' : requested;
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    if (message instanceof Error) {
      fields.err = message;
      this.pino[level](fields, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level](
        { ...fields, ...message },
        rest.find((p): p is string => typeof p === 'string'),
      );
    } else if (level === 'error' && typeof rest[0] === 'string' && rest[0].includes('\n    at ')) {
      // Nest's own exception handlers call error(message, stack, context).
      const err = Object.assign(new Error(String(message)), { stack: rest[0] });
      this.pino[level]({ ...fields, err }, String(message));
    } else {
      this.pino[level](fields, String(message));
    }
  }
}

/**
 * One line per answered request, written when the response has gone out (Fastify onResponse):
 * method, path, status, duration and the correlation id. Probes and scrapes are not logged.
 */
export function logRequestCompleted(logger: PinoLogger, request: FastifyRequest, reply: FastifyReply): void {
  if (QUIET_PATHS.has(request.url.split('?')[0])) return;
  const status = reply.statusCode;
  const level: Level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
  if (!logger.isLevelEnabled(level)) return;
  const headers = request.headers;
  logger[level](
    {
      correlationId: request.id,
      req: {
        id: request.id,
        method: request.method,
        url: request.url,
        idempotencyKey: headers['idempotency-key'],
        userAgent: headers['user-agent'],
      },
      res: { statusCode: status },
      responseTime: Math.round(reply.elapsedTime),
    },
    'request completed',
  );
}
