import { Injectable } from '@nestjs/common';
import { DomainError } from '../../../libs/shared/domain-error';
import { Operator } from '../domain/operator';
import { OperatorRepository } from './operator.repository';

/**
 * Resolves an operator token to an active operator, cached for a second per replica like client
 * keys (a revocation takes effect within a second). Only `op_` tokens are looked up: a client key
 * is refused without a query, and it would not be found in the operators table anyway.
 */
@Injectable()
export class AuthenticateOperatorUseCase {
  static readonly CACHE_TTL_MS = 1000;
  private readonly cache = new Map<string, { operator: Operator | null; until: number }>();

  constructor(private readonly operators: OperatorRepository) {}

  async execute(token: string | undefined): Promise<Operator> {
    if (!token) throw new DomainError('UNAUTHENTICATED', 'missing operator token: send Authorization: Bearer op_…');
    if (!token.startsWith('op_'))
      throw new DomainError('UNAUTHENTICATED', 'not an operator token: the admin API takes op_… tokens only');
    const hash = Operator.hashToken(token);
    const now = Date.now();
    let entry = this.cache.get(hash);
    if (!entry || entry.until < now) {
      entry = {
        operator: await this.operators.findByTokenHash(hash),
        until: now + AuthenticateOperatorUseCase.CACHE_TTL_MS,
      };
      if (this.cache.size > 1000) this.cache.clear();
      this.cache.set(hash, entry);
    }
    if (!entry.operator || !entry.operator.isActive())
      throw new DomainError('UNAUTHENTICATED', 'unknown or revoked operator token');
    return entry.operator;
  }
}
