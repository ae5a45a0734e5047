import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { Clock } from '../../../libs/shared/clock';
import { DomainError } from '../../../libs/shared/domain-error';
import { Client } from '../domain/client';
import { ClientRepository } from './client.repository';

/**
 * Resolves an API key to an active client. Lookups are cached for a second per replica so the
 * hot path does not pay a query per request; a revocation therefore takes effect within a second.
 * Keys that matched no client are remembered in a bounded LRU of their own: a flood of random
 * tokens can neither evict the real clients from their cache nor grow memory without bound.
 */
@Injectable()
export class AuthenticateClientUseCase {
  static readonly CACHE_TTL_MS = 1000;
  static readonly MAX_CACHED_CLIENTS = 10_000;
  static readonly MAX_CACHED_MISSES = 10_000;
  private readonly clientsByKey: LRUCache<string, Client>;
  private readonly misses: LRUCache<string, true>;

  constructor(
    private readonly clients: ClientRepository,
    clock: Clock,
  ) {
    // The Clock decides expiry (tests move it); ttlResolution 0 reads it on every check.
    const perf = { now: () => clock.now().getTime() };
    const ttl = AuthenticateClientUseCase.CACHE_TTL_MS;
    this.clientsByKey = new LRUCache({
      max: AuthenticateClientUseCase.MAX_CACHED_CLIENTS,
      ttl,
      perf,
      ttlResolution: 0,
    });
    this.misses = new LRUCache({ max: AuthenticateClientUseCase.MAX_CACHED_MISSES, ttl, perf, ttlResolution: 0 });
  }

  /**
   * `cachedOnly`: answer from the caches and never query (an address over its failed-attempt
   * limit may still use a key this replica has just seen succeed, but costs nothing otherwise).
   */
  async execute(apiKey: string | undefined, options: { cachedOnly?: boolean } = {}): Promise<Client> {
    if (!apiKey) throw new DomainError('UNAUTHENTICATED', 'missing API key: send Authorization: Bearer <api key>');
    const hash = Client.hashApiKey(apiKey);
    let client = this.clientsByKey.get(hash) ?? null;
    if (!client && !options.cachedOnly && !this.misses.has(hash)) {
      client = await this.clients.findByApiKeyHash(hash);
      if (client) this.clientsByKey.set(hash, client);
      else this.misses.set(hash, true);
    }
    if (!client || !client.isActive()) throw new DomainError('UNAUTHENTICATED', 'unknown or revoked API key');
    return client;
  }

  /** How many clients and misses are cached (for tests and diagnostics). */
  cacheSizes(): { clients: number; misses: number } {
    return { clients: this.clientsByKey.size, misses: this.misses.size };
  }
}
