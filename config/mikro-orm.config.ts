import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, Options } from '@mikro-orm/postgresql';
import { MIGRATIONS } from '../migrations';
import { normalizeDatabaseUrl } from '../src/database/connection-string';
import { ClientSchema } from '../src/clients/infrastructure/client.schema';
import {
  BalanceSchema,
  LedgerEntrySchema,
  RechargeEventSchema,
} from '../src/recharge/infrastructure/persistence/recharge.schema';

export const ENTITIES = [ClientSchema, RechargeEventSchema, LedgerEntrySchema, BalanceSchema];

/** Connections the service opens at start and keeps open (see PoolWarmup). */
export const POOL_WARM_CONNECTIONS = 10;

export function createOrmConfig(databaseUrl: string, poolMax = 20): Options {
  return defineConfig({
    clientUrl: databaseUrl,
    // MikroORM reads host, port, user, password and database from the URL itself and drops the
    // rest (`?host=/socket/folder`, `sslmode`, …). node-postgres, given the whole string, reads it
    // the way every other connection of the service does.
    driverOptions: { connection: { connectionString: databaseUrl } },
    entities: ENTITIES,
    discovery: { warnWhenNoEntities: false },
    extensions: [Migrator],
    migrations: {
      migrationsList: MIGRATIONS,
      tableName: 'mikro_orm_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
    pool: { min: Math.min(POOL_WARM_CONNECTIONS, poolMax), max: poolMax },
    // Entities are plain domain classes; MikroORM must not try to read TypeScript metadata.
    metadataProvider: undefined,
    forceUtcTimezone: true,
    // No relations to propagate, so no per-property accessors on the entity prototypes: with them
    // every field written to a new Recharge went through a setter that redefines the property on
    // the instance (CPU profile of the bench's 10-s ingest round: 238 ms in that setter; none without).
    propagationOnPrototype: false,
    allowGlobalContext: false,
    debug: false,
  });
}

/** For the MikroORM CLI (a development tool): DATABASE_URL, else the embedded server `npm start` runs. */
function developmentDatabaseUrl(): string {
  // Evaluated whenever this module loads (the service too): a bad value is loadConfig's to report.
  if (process.env.DATABASE_URL) {
    try {
      return normalizeDatabaseUrl(process.env.DATABASE_URL);
    } catch {
      return process.env.DATABASE_URL;
    }
  }
  const passwordFile = join(process.env.DATA_DIR ?? './.data', 'postgres-password');
  const password = existsSync(passwordFile) ? readFileSync(passwordFile, 'utf8').trim() : '';
  const port = process.env.EMBEDDED_POSTGRES_PORT ?? '54329';
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/recharge`;
}

export default createOrmConfig(developmentDatabaseUrl());
