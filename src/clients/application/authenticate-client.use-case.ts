import { Injectable } from '@nestjs/common';
import { DomainError } from '../../../libs/shared/domain-error';
import { Client } from '../domain/client';
import { ClientRepository } from './client.repository';

/**
 * Resolves an API key to an active client. Lookups are cached for a second per replica so the
 * hot path does not pay a query per request; a revocation therefore takes effect within a second.
 */
@Injectable()
export class AuthenticateClientUseCase {
  static readonly CACHE_TTL_MS = 1000;
  private readonly cache = new Map<string, { client: Client | null; until: number }>();

  constructor(private readonly clients: ClientRepository) {}

  async execute(apiKey: string | undefined): Promise<Client> {
    if (!apiKey) throw new DomainError('UNAUTHENTICATED', 'missing API key: send Authorization: Bearer <api key>');
    const hash = Client.hashApiKey(apiKey);
    const now = Date.now();
    let entry = this.cache.get(hash);
    if (!entry || entry.until < now) {
      entry = {
        client: await this.clients.findByApiKeyHash(hash),
        until: now + AuthenticateClientUseCase.CACHE_TTL_MS,
      };
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, entry);
    }
    if (!entry.client || !entry.client.isActive())
      throw new DomainError('UNAUTHENTICATED', 'unknown or revoked API key');
    return entry.client;
  }
}
