import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { ClientRepository } from '../application/client.repository';
import { Client } from '../domain/client';

@Injectable()
export class MikroOrmClientRepository extends ClientRepository {
  constructor(private readonly em: EntityManager) {
    super();
  }

  async save(client: Client): Promise<void> {
    const em = this.em.fork();
    await em.upsert(Client, client);
  }

  findById(id: string): Promise<Client | null> {
    return this.em.fork().findOne(Client, { id }, { populate: ['webhookSecret'] });
  }

  findByApiKeyHash(hash: string): Promise<Client | null> {
    return this.em.fork().findOne(Client, { apiKeyHash: hash });
  }

  list(): Promise<Client[]> {
    return this.em.fork().find(Client, {}, { orderBy: { createdAt: 'asc' } });
  }
}
