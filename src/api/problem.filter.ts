import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConnectionException } from '@mikro-orm/core';
import { DomainError, ErrorCode, FieldError } from '../../libs/shared/domain-error';

const STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  UNAUTHORIZED: 403,
  NOT_FOUND: 404,
  DUPLICATE_REQUEST: 422,
  INVALID_STATE: 409,
  RATE_LIMITED: 429,
  PROVIDER_ERROR: 502,
  TIMEOUT: 504,
  INTERNAL_ERROR: 500,
  UNAVAILABLE: 503,
};

const TITLE: Record<ErrorCode, string> = {
  INVALID_ARGUMENT: 'Invalid argument',
  UNAUTHENTICATED: 'Unauthenticated',
  UNAUTHORIZED: 'Unauthorized',
  NOT_FOUND: 'Not found',
  DUPLICATE_REQUEST: 'Duplicate request',
  INVALID_STATE: 'Invalid state',
  RATE_LIMITED: 'Rate limited',
  PROVIDER_ERROR: 'Provider error',
  TIMEOUT: 'Timeout',
  INTERNAL_ERROR: 'Internal error',
  UNAVAILABLE: 'Unavailable',
};

const CODE_OF_STATUS = new Map(Object.entries(STATUS).map(([code, status]) => [status, code as ErrorCode]));

/**
 * The `recharge_requests_total` label of an answer to POST /v1/recharges: created, replayed, the
 * problem code in lower case, or "error" for an internal error. Taken from the status code of the
 * answer, so refusals before the controller (authentication, content type, validation, the client
 * rate limit) are counted too.
 */
export function rechargeRequestOutcome(status: number): string {
  if (status === 202) return 'created';
  if (status === 200) return 'replayed';
  if (status === 413 || status === 415) return 'invalid_argument';
  const code = CODE_OF_STATUS.get(status);
  return !code || code === 'INTERNAL_ERROR' ? 'error' : code.toLowerCase();
}

export class RateLimitedError extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super('RATE_LIMITED', `too many requests; retry after ${retryAfterSeconds} s`);
  }
}

interface Problem {
  code: ErrorCode;
  status: number;
  detail: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
}

/** The one place where any error becomes an RFC 9457 problem+json response. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    if (exception instanceof HttpException && request.url?.startsWith('/health')) {
      // Probes answer terminus's own JSON (503 with the failing indicators), not problem+json.
      reply.status(exception.getStatus()).send(exception.getResponse());
      return;
    }
    const problem = this.toProblem(exception, request);
    const body = {
      type: `https://docs.alicloud-recharge.internal/errors/${problem.code.toLowerCase().replace(/_/g, '-')}`,
      title: TITLE[problem.code],
      status: problem.status,
      detail: problem.detail,
      instance: request.url?.split('?')[0],
      code: problem.code,
      correlationId: String(request.id),
      ...(problem.errors && problem.errors.length > 0 ? { errors: problem.errors } : {}),
    };
    for (const [name, value] of Object.entries(problem.headers ?? {})) reply.header(name, value);
    reply.header('X-Request-Id', String(request.id));
    reply.status(problem.status).type('application/problem+json').send(body);
  }

  private toProblem(exception: unknown, request: FastifyRequest): Problem {
    if (exception instanceof RateLimitedError) {
      return {
        code: 'RATE_LIMITED',
        status: 429,
        detail: exception.message,
        headers: { 'Retry-After': String(exception.retryAfterSeconds) },
      };
    }
    if (exception instanceof DomainError) {
      if (exception.code === 'INTERNAL_ERROR') return this.internal(exception, request);
      return {
        code: exception.code,
        status: STATUS[exception.code],
        detail: exception.message,
        errors: exception.fieldErrors,
      };
    }
    if (isDatabaseUnavailable(exception)) {
      this.logger.warn({ err: exception, correlationId: request.id }, 'database unavailable');
      return {
        code: 'UNAVAILABLE',
        status: 503,
        detail: 'the service cannot reach its database; retry shortly',
        headers: { 'Retry-After': '1' },
      };
    }
    const status =
      exception instanceof HttpException ? exception.getStatus() : (exception as { statusCode?: unknown })?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // Framework-level refusals: unknown route, body over 64 KB, wrong content type, bad JSON.
      const code: ErrorCode = status === 404 ? 'NOT_FOUND' : status === 429 ? 'RATE_LIMITED' : 'INVALID_ARGUMENT';
      const finalStatus = [404, 413, 415].includes(status) ? status : code === 'RATE_LIMITED' ? 429 : 400;
      return { code, status: finalStatus, detail: describeClientError(status, exception) };
    }
    return this.internal(exception, request);
  }

  private internal(exception: unknown, request: FastifyRequest): Problem {
    this.logger.error({ err: exception, correlationId: request.id }, 'unhandled error');
    return {
      code: 'INTERNAL_ERROR',
      status: 500,
      detail: 'an internal error occurred; quote the correlationId when reporting it',
    };
  }
}

/** Connection-level failures (not query errors): the request may be retried as is. */
function isDatabaseUnavailable(exception: unknown): boolean {
  if (exception instanceof ConnectionException) return true;
  const e = exception as { code?: unknown; message?: unknown };
  // ECONNREFUSED/ECONNRESET: no server; 57P0x: admin shutdown, crash, cannot connect now; 53300: too many connections.
  if (
    typeof e?.code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P02', '57P03', '53300'].includes(e.code)
  )
    return true;
  return typeof e?.message === 'string' && /Timeout acquiring a connection|Connection terminated/i.test(e.message);
}

function describeClientError(status: number, exception: unknown): string {
  if (status === 413) return 'request body exceeds 64 KB';
  if (status === 415) return 'Content-Type must be application/json';
  if (status === 404) return 'no such resource';
  const message = exception instanceof Error ? exception.message : '';
  return /JSON/i.test(message) ? 'request body is not valid JSON' : message || 'bad request';
}
