import { loadConfig } from '../config/app-config';
import { resolveDatabaseUrl } from './database/database-url';
import { runMigrations } from './database/migrations';
import { redactSecrets } from '../libs/shared/redact';
import { describeStartupFailure } from './startup/startup-failure';
import { writePlainLogLine } from './observability/logging';

const DATABASE_SETTINGS = [
  'DATABASE_URL',
  'DATA_DIR',
  'EMBEDDED_POSTGRES_PORT',
  'EMBEDDED_POSTGRES_ROOT',
  'LOG_LEVEL',
  'LOG_FORMAT',
];
const onlyDatabaseSettings = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
  Object.fromEntries(DATABASE_SETTINGS.filter((k) => env[k] !== undefined).map((k) => [k, env[k]]));

/** `npm run migrate`: applies pending migrations under the advisory lock and exits (a Kubernetes Job). */
async function migrate(): Promise<void> {
  // Only the database settings: the Job gets DATABASE_URL (a DDL role) and nothing else, so the
  // provider keys and webhook secrets it does not need are neither required nor validated here.
  const config = loadConfig(onlyDatabaseSettings(process.env));
  const log = (msg: string) => writePlainLogLine('info', msg);
  const database = await resolveDatabaseUrl(config, log);
  try {
    const applied = await runMigrations(database.url, log);
    log(applied.length > 0 ? `applied ${applied.length} migration(s)` : 'database already up to date');
  } finally {
    await database.stop();
  }
}

migrate().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${redactSecrets(describeStartupFailure(err))}\n`);
    process.exit(1);
  },
);
