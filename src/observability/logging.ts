import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Params } from 'nestjs-pino';
import { stdSerializers, stdTimeFunctions } from 'pino';
import { AppConfig } from '../../config/app-config';
import { redactSecrets } from '../../libs/shared/redact';

/** Paths pino blanks out wherever they appear in a log record. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["webhook-signature"]',
  'res.headers["set-cookie"]',
  '*.apiKey',
  '*.webhookSecret',
  '*.accessKeySecret',
  '*.accessKeyId',
  '*.secret',
  '*.password',
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

export function loggerParams(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.logLevel,
      timestamp: stdTimeFunctions.isoTime,
      // Fastify already chose the request id (the caller's X-Request-Id when valid); reuse it.
      genReqId: (req: IncomingMessage) => ((req as IncomingMessage & { id?: string }).id ?? randomUUID()) as string,
      customProps: (req: IncomingMessage) => ({ correlationId: (req as IncomingMessage & { id?: string }).id }),
      customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.has((req.url ?? '').split('?')[0]) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: {
        err: errorSerializer,
        req: (req: { id: string; method: string; url: string; headers: Record<string, string> }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
          idempotencyKey: req.headers?.['idempotency-key'],
          userAgent: req.headers?.['user-agent'],
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      formatters: { level: (label: string) => ({ level: label }) },
    },
  };
}
