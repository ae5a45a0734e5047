import { Client } from '../domain/client';

export abstract class ClientRepository {
  abstract save(client: Client): Promise<void>;
  abstract findById(id: string): Promise<Client | null>;
  abstract findByApiKeyHash(hash: string): Promise<Client | null>;
  abstract list(): Promise<Client[]>;
}
