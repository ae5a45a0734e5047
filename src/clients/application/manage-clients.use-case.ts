import { Injectable } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { DomainError } from '../../../libs/shared/domain-error';
import { newId } from '../../../libs/shared/ids';
import { Client } from '../domain/client';
import { ClientRepository } from './client.repository';

export interface CreatedClient {
  client: Client;
  /** Shown once; only its hash is stored. */
  apiKey: string;
  webhookSecret: string;
}

@Injectable()
export class ManageClientsUseCase {
  constructor(
    private readonly clients: ClientRepository,
    private readonly clock: Clock,
  ) {}

  async create(name: string, allowedAccounts: string[], weight?: number): Promise<CreatedClient> {
    const { client, apiKey } = Client.register(newId('cli'), name, allowedAccounts, this.clock.now(), weight);
    await this.clients.save(client);
    return { client, apiKey, webhookSecret: client.webhookSecret };
  }

  list(): Promise<Client[]> {
    return this.clients.list();
  }

  /** The client's share of the provider's budget; the dispatcher's next claim uses it. */
  async setWeight(id: string, weight: number): Promise<Client> {
    const client = await this.clients.findById(id);
    if (!client) throw new DomainError('NOT_FOUND', `client ${id} not found`);
    client.reweigh(weight);
    await this.clients.save(client);
    return client;
  }

  async revoke(id: string): Promise<Client> {
    const client = await this.clients.findById(id);
    if (!client) throw new DomainError('NOT_FOUND', `client ${id} not found`);
    client.revoke(this.clock.now());
    await this.clients.save(client);
    return client;
  }
}
