import { AppConfig } from '../../config/app-config';
import { startEmbeddedPostgres } from '../../libs/embedded-postgres/embedded-postgres';

/** Where `npm start` hosts its in-process BSS simulator, so the CLI can reach it too. */
export const simulatorPort = (): number => Number(process.env.SIMULATOR_PORT ?? 8089);

/** DATABASE_URL when set; otherwise a real PostgreSQL started from the embedded binaries in DATA_DIR. */
export async function resolveDatabaseUrl(
  config: AppConfig,
  log: (msg: string) => void,
): Promise<{ url: string; stop: () => Promise<void>; embedded: boolean }> {
  if (config.databaseUrl) return { url: config.databaseUrl, stop: async () => undefined, embedded: false };
  const handle = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPostgresPort,
    runtimeRoot: config.embeddedPostgresRoot,
    log,
    // main.ts owns SIGTERM: readiness, drain, in-flight provider calls, then database.stop().
    stopOnSignals: false,
  });
  log(`embedded PostgreSQL ready on port ${config.embeddedPostgresPort}, data in ${handle.pgData}`);
  return { ...handle, embedded: true };
}
