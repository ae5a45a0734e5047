import { loadConfig } from '../config/app-config';
import { resolveDatabaseUrl } from './database/database-url';
import { runMigrations } from './database/migrations';
import { describeStartupFailure } from './startup/startup-failure';

/** `npm run migrate`: applies pending migrations under the advisory lock and exits (a Kubernetes Job). */
async function migrate(): Promise<void> {
  const config = loadConfig();
  const log = (msg: string) =>
    process.stdout.write(`${JSON.stringify({ level: 'info', time: new Date().toISOString(), msg })}\n`);
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
    process.stderr.write(`${describeStartupFailure(err)}\n`);
    process.exit(1);
  },
);
