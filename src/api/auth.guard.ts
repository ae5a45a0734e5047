import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuthenticateClientUseCase } from '../clients/application/authenticate-client.use-case';
import { Client } from '../clients/domain/client';
import { ClientRateLimiter } from './client-rate-limiter';
import { RateLimitedError } from './problem.filter';

type AuthenticatedRequest = FastifyRequest & { client?: Client };

/** Bearer API key → active client, then the client's request rate (401 before 429). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly authenticate: AuthenticateClientUseCase,
    private readonly rateLimiter: ClientRateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const client = await this.authenticate.execute(match?.[1]);
    const wait = this.rateLimiter.take(client.id);
    if (wait > 0) throw new RateLimitedError(wait);
    request.client = client;
    return true;
  }
}

export const CurrentClient = createParamDecorator(
  (_: unknown, context: ExecutionContext): Client => context.switchToHttp().getRequest<AuthenticatedRequest>().client!,
);
