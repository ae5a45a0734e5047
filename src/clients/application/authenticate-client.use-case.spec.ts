import { Clock } from '../../../libs/shared/clock';
import { Client } from '../domain/client';
import { AuthenticateClientUseCase } from './authenticate-client.use-case';
import { ClientRepository } from './client.repository';

/** An in-memory client store that counts its lookups. */
class CountingClients extends ClientRepository {
  lookups = 0;
  private readonly byHash = new Map<string, Client>();
  async save(client: Client): Promise<void> {
    this.byHash.set(client.apiKeyHash, client);
  }
  async findById(id: string): Promise<Client | null> {
    return [...this.byHash.values()].find((c) => c.id === id) ?? null;
  }
  async findByApiKeyHash(hash: string): Promise<Client | null> {
    this.lookups += 1;
    return this.byHash.get(hash) ?? null;
  }
  async list(): Promise<Client[]> {
    return [...this.byHash.values()];
  }
}

/** Time stands still unless a test moves it: the flood below takes longer than the 1 s TTL. */
const clock = new (class extends Clock {
  at = 1_000_000;
  now = () => new Date(this.at);
})();

describe('AuthenticateClientUseCase caches', () => {
  it('a flood of unknown keys does not evict a real client, and the misses stay bounded', async () => {
    const clients = new CountingClients();
    const { client, apiKey } = Client.register('cli_real', 'real', ['*'], new Date());
    await clients.save(client);
    const auth = new AuthenticateClientUseCase(clients, clock);

    expect((await auth.execute(apiKey)).id).toBe('cli_real');
    expect(clients.lookups).toBe(1);

    const flood = AuthenticateClientUseCase.MAX_CACHED_MISSES + 500;
    for (let i = 0; i < flood; i++) {
      await expect(auth.execute(`rk_random_${i}`)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    }
    expect(auth.cacheSizes()).toEqual({ clients: 1, misses: AuthenticateClientUseCase.MAX_CACHED_MISSES });

    // Still answered from the cache: no query for the real client after the flood.
    const before = clients.lookups;
    expect((await auth.execute(apiKey)).id).toBe('cli_real');
    expect(clients.lookups).toBe(before);
  });

  it('a repeated unknown key is looked up once while its miss is cached', async () => {
    const clients = new CountingClients();
    const auth = new AuthenticateClientUseCase(clients, clock);
    for (let i = 0; i < 5; i++) await expect(auth.execute('rk_same_wrong_key')).rejects.toThrow(/unknown or revoked/);
    expect(clients.lookups).toBe(1);
    clock.at += AuthenticateClientUseCase.CACHE_TTL_MS + 1;
    await expect(auth.execute('rk_same_wrong_key')).rejects.toThrow(/unknown or revoked/);
    expect(clients.lookups).toBe(2);
  });

  it('cachedOnly never queries: a cached client passes, anything else is refused', async () => {
    const clients = new CountingClients();
    const { client, apiKey } = Client.register('cli_c', 'c', ['*'], new Date());
    await clients.save(client);
    const auth = new AuthenticateClientUseCase(clients, clock);
    await expect(auth.execute(apiKey, { cachedOnly: true })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(clients.lookups).toBe(0);
    await auth.execute(apiKey);
    expect((await auth.execute(apiKey, { cachedOnly: true })).id).toBe('cli_c');
    expect(clients.lookups).toBe(1);
  });
});
