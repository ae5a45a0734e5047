import { createHash, randomBytes } from 'node:crypto';
import { DomainError } from '../../../libs/shared/domain-error';

export const OPERATOR_ROLES = ['viewer', 'operator'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/**
 * A person who looks after recharges through the admin API and the console. A viewer reads
 * everything; an operator may also act (resolve, re-drive, redeliver, acknowledge). The token is
 * shown once and stored only as a SHA-256 hash (256 random bits: nothing to brute-force). Tokens
 * start with `op_`, client keys with `rk_`, and each lives in its own table, so neither is accepted
 * where the other belongs.
 */
export class Operator {
  id!: string;
  name!: string;
  role!: OperatorRole;
  tokenHash!: string;
  tokenPrefix!: string;
  createdAt!: Date;
  revokedAt!: Date | null;

  static register(id: string, name: string, role: string, now: Date): { operator: Operator; token: string } {
    if (!name.trim()) throw new DomainError('INVALID_ARGUMENT', 'operator name must not be empty');
    if (!(OPERATOR_ROLES as readonly string[]).includes(role))
      throw new DomainError('INVALID_ARGUMENT', `role must be one of ${OPERATOR_ROLES.join(', ')}`);
    const token = `op_${randomBytes(32).toString('base64url')}`;
    const operator = Object.assign(new Operator(), {
      id,
      name: name.trim(),
      role: role as OperatorRole,
      tokenHash: Operator.hashToken(token),
      tokenPrefix: token.slice(0, 10),
      createdAt: now,
      revokedAt: null,
    });
    return { operator, token };
  }

  static hashToken(token: string): string {
    return createHash('sha256').update(token).digest('hex');
  }

  mayAct(): boolean {
    return this.role === 'operator';
  }

  isActive(): boolean {
    return this.revokedAt === null;
  }

  revoke(now: Date): void {
    this.revokedAt ??= now;
  }
}
