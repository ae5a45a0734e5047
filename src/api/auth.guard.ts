import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../../libs/shared/domain-error';
import { AuthenticateClientUseCase } from '../clients/application/authenticate-client.use-case';
import { Client } from '../clients/domain/client';
import { ClientRateLimiter } from './client-rate-limiter';
import { FailedAuthLimiter } from './failed-auth-limiter';
import { RateLimitedError } from './problem.filter';

type AuthenticatedRequest = FastifyRequest & { client?: Client };

/**
 * Bearer API key → active client, then the client's request rate (401 before 429). An address
 * that keeps failing to authenticate is answered 429 instead of 401 until its budget refills;
 * meanwhile only keys this replica has just seen succeed are let through (from the cache, no query).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly authenticate: AuthenticateClientUseCase,
    private readonly rateLimiter: ClientRateLimiter,
    private readonly failedAuth: FailedAuthLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const blockedFor = this.failedAuth.retryAfter(request.ip);
    let client: Client;
    try {
      client = await this.authenticate.execute(match?.[1], { cachedOnly: blockedFor > 0 });
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== 'UNAUTHENTICATED') throw err;
      if (blockedFor > 0) throw new RateLimitedError(blockedFor);
      this.failedAuth.fail(request.ip);
      throw err;
    }
    const wait = this.rateLimiter.take(client.id);
    if (wait > 0) throw new RateLimitedError(wait);
    request.client = client;
    return true;
  }
}

export const CurrentClient = createParamDecorator(
  (_: unknown, context: ExecutionContext): Client => context.switchToHttp().getRequest<AuthenticatedRequest>().client!,
);
