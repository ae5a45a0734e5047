import { ConfigError } from '../../config/app-config';
import { EmbeddedPostgresError } from '../../libs/embedded-postgres/embedded-postgres.error';

/**
 * Why the service could not start, in words a newcomer can act on. Known causes get one line
 * (what happened; what to do); anything else keeps its stack, which is then a bug to report.
 */
export function describeStartupFailure(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  if (err instanceof EmbeddedPostgresError) return `embedded PostgreSQL: ${err.message}`;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; syscall?: string };
  if (e?.code === 'EADDRINUSE' && e.syscall === 'listen') {
    return `port ${e.port} is already in use; set PORT (the API) or SIMULATOR_PORT (the simulator) to a free port, or stop the program using it`;
  }
  if (
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOENT', 'EACCES'].includes(e?.code ?? '')
  ) {
    const where = e.address ? ` (${e.address}${e.port ? `:${e.port}` : ''})` : '';
    return `cannot reach the database of DATABASE_URL${where}: ${e.code}; check that the server runs and DATABASE_URL names it`;
  }
  // PostgreSQL's own answers to a connection attempt (SQLSTATE).
  if (e?.code === '28P01' || e?.code === '28000') {
    return `the database refused the credentials in DATABASE_URL (${e.message}); check the user and password`;
  }
  if (e?.code === '3D000') return `${e.message}; create it or fix the database name in DATABASE_URL`;
  return `fatal: ${err instanceof Error ? err.stack : String(err)}`;
}
