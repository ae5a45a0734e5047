import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppConfig, ConfigError, loadConfig } from '../../config/app-config';
import { resolveDatabaseUrl } from '../database/database-url';
import { runMigrations } from '../database/migrations';
import { CliError } from './cli-error';
import { CliModule } from './cli.module';
import { simulatorPort } from '../database/database-url';

/** Runs `fn` against a started application context and tears everything down afterwards. */
export type AppRunner = <T>(fn: (app: INestApplicationContext) => Promise<T>) => Promise<T>;

/**
 * Boots only when a command needs the database (usage errors and --help never do): configuration,
 * then DATABASE_URL or the embedded PostgreSQL in DATA_DIR (re-attached, and left running, when the
 * service already started it), pending migrations, and a Nest context without HTTP.
 * `log` receives progress lines; the CLI sends them to stderr so --json stdout stays clean.
 */
export function createAppRunner(log: (msg: string) => void): AppRunner {
  return async <T>(fn: (app: INestApplicationContext) => Promise<T>): Promise<T> => {
    let config: AppConfig;
    try {
      config = loadConfig();
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(err.message);
      throw err;
    }
    if (config.simulatorEmbedded) {
      // The running service (npm start) hosts the simulator on SIMULATOR_PORT; reconcile re-drives talk to it.
      config = { ...config, alibabaCloud: { ...config.alibabaCloud, endpoint: `http://127.0.0.1:${simulatorPort()}` } };
    }
    const database = await resolveDatabaseUrl(config, log);
    try {
      await runMigrations(database.url, log);
      const app = await NestFactory.createApplicationContext(CliModule.forRoot({ config, databaseUrl: database.url }), {
        logger: false,
        abortOnError: false,
      });
      try {
        return await fn(app);
      } finally {
        await app.close();
      }
    } finally {
      // A no-op when DATABASE_URL is set or when an already running embedded server was reused.
      await database.stop();
    }
  };
}
