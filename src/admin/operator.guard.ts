import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuthenticateOperatorUseCase } from '../operators/application/authenticate-operator.use-case';
import { Operator } from '../operators/domain/operator';

type OperatorRequest = FastifyRequest & { operator?: Operator };

/**
 * Bearer operator token → active operator (401 otherwise, also for a client API key). Reading is
 * open to every role; the action use cases refuse a viewer (403).
 */
@Injectable()
export class OperatorGuard implements CanActivate {
  constructor(private readonly authenticate: AuthenticateOperatorUseCase) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<OperatorRequest>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    request.operator = await this.authenticate.execute(match?.[1]);
    return true;
  }
}

export const CurrentOperator = createParamDecorator(
  (_: unknown, context: ExecutionContext): Operator => context.switchToHttp().getRequest<OperatorRequest>().operator!,
);
