import { EntitySchema } from '@mikro-orm/core';
import { Client } from '../domain/client';

export const ClientSchema = new EntitySchema<Client>({
  class: Client,
  tableName: 'clients',
  properties: {
    id: { type: 'text', primary: true },
    name: { type: 'text' },
    apiKeyHash: { type: 'text', unique: true },
    apiKeyPrefix: { type: 'text' },
    allowedAccounts: { type: 'text[]' },
    webhookSecret: { type: 'text', lazy: true },
    createdAt: { type: 'timestamptz' },
    revokedAt: { type: 'timestamptz', nullable: true },
    weight: { type: 'integer', default: 1 },
  },
});
