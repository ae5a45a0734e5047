import { createHash, randomBytes } from 'node:crypto';
import { ACCOUNT_ID_RULE, isAccountId } from '../../../libs/shared/account-id';
import { DomainError } from '../../../libs/shared/domain-error';

export const ALL_ACCOUNTS = '*';
/** A client's share of the provider's budget relative to the others' (1 = an equal share). */
export const DEFAULT_WEIGHT = 1;
export const MAX_WEIGHT = 1000;

/**
 * An internal caller. Its API key is shown once and stored only as a SHA-256 hash (the key is
 * 256 random bits, so a fast hash is enough: there is nothing to brute-force). The webhook secret
 * signs callbacks, so it has to be kept in a usable form.
 */
export class Client {
  id!: string;
  name!: string;
  apiKeyHash!: string;
  apiKeyPrefix!: string;
  allowedAccounts!: string[];
  webhookSecret!: string;
  createdAt!: Date;
  revokedAt!: Date | null;
  /**
   * Its share of the provider's rate budget when several clients have work queued: a client of
   * weight 3 gets three credits for every one of a client of weight 1 (the dispatcher's fair claim).
   */
  weight!: number;

  static register(
    id: string,
    name: string,
    allowedAccounts: string[],
    now: Date,
    weight: number = DEFAULT_WEIGHT,
  ): { client: Client; apiKey: string } {
    Client.checkWeight(weight);
    if (!name.trim()) throw new DomainError('INVALID_ARGUMENT', 'client name must not be empty');
    if (allowedAccounts.length === 0)
      throw new DomainError('INVALID_ARGUMENT', 'a client needs at least one account or "*"');
    for (const a of allowedAccounts) {
      if (a !== ALL_ACCOUNTS && !isAccountId(a))
        throw new DomainError('INVALID_ARGUMENT', `not an account UID: "${a}" (${ACCOUNT_ID_RULE})`);
    }
    const apiKey = `rk_${randomBytes(32).toString('base64url')}`;
    const client = new Client();
    Object.assign(client, {
      id,
      name: name.trim(),
      apiKeyHash: Client.hashApiKey(apiKey),
      apiKeyPrefix: apiKey.slice(0, 10),
      allowedAccounts,
      webhookSecret: `whsec_${randomBytes(32).toString('base64')}`,
      createdAt: now,
      revokedAt: null,
      weight,
    });
    return { client, apiKey };
  }

  static checkWeight(weight: number): void {
    if (!Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT)
      throw new DomainError('INVALID_ARGUMENT', `weight must be an integer from 1 to ${MAX_WEIGHT}, got ${weight}`);
  }

  reweigh(weight: number): void {
    Client.checkWeight(weight);
    this.weight = weight;
  }

  static hashApiKey(apiKey: string): string {
    return createHash('sha256').update(apiKey).digest('hex');
  }

  mayAccess(accountId: string): boolean {
    return this.allowedAccounts.includes(ALL_ACCOUNTS) || this.allowedAccounts.includes(accountId);
  }

  isActive(): boolean {
    return this.revokedAt === null;
  }

  revoke(now: Date): void {
    this.revokedAt ??= now;
  }
}
