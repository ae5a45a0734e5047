import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';

const TEMPLATE_DB = 'recharge_template';

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh, migrated database cloned from the template (about 0.1 s), private to one test file. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = process.env.TEST_ADMIN_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_ADMIN_DATABASE_URL is not set: run tests through jest (global setup)');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE recharge_template`);
  } finally {
    await admin.end();
  }
  return withDatabase(adminUrl, name);
}

/** Runs one query on a short-lived connection: for assertions straight against the tables. */
export async function query<T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

const ROLES_SQL = readFileSync(join(__dirname, '../../config/database/roles.sql'), 'utf8');

/**
 * An empty database `<prefix>_<suffix>` with the two roles exactly as config/database/roles.sql
 * grants them (the migrator with DDL, the service's role without), each with a password. The
 * roles get the per-run suffix too: roles are global to the server.
 */
export function rolesDatabase(prefix: string) {
  const suffix = randomBytes(4).toString('hex');
  const migrator = `recharge_migrator_${suffix}`;
  const appRole = `recharge_app_${suffix}`;
  const password = randomBytes(12).toString('hex');
  const database = `${prefix}_${suffix}`;
  const adminUrl = process.env.TEST_ADMIN_DATABASE_URL!;
  return {
    migrator,
    appRole,
    /** Both roles' password, for checking that nothing prints it. */
    password,
    /** The database's URL, connecting as `role`. */
    urlAs(role: string): string {
      const u = new URL(withDatabase(adminUrl, database));
      u.username = role;
      u.password = password;
      return u.toString();
    },
    async create(): Promise<void> {
      await query(adminUrl, `CREATE DATABASE ${database}`);
      await query(
        withDatabase(adminUrl, database),
        ROLES_SQL.replace(/\brecharge_migrator\b/g, migrator).replace(/\brecharge_app\b/g, appRole),
      );
      for (const role of [migrator, appRole]) await query(adminUrl, `ALTER ROLE ${role} PASSWORD '${password}'`);
    },
    async drop(): Promise<void> {
      await query(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      for (const role of [appRole, migrator]) await query(adminUrl, `DROP ROLE IF EXISTS ${role}`);
    },
  };
}

export { TEMPLATE_DB, withDatabase };
