import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainError } from '../../libs/shared/domain-error';
import { AuthenticateClientUseCase } from '../clients/application/authenticate-client.use-case';
import { ManageClientsUseCase } from '../clients/application/manage-clients.use-case';

/** Where the demo client's API key is kept (mode 0600): shown again on every start. */
export const DEMO_KEY_FILE = 'demo-api-key';

/**
 * The API key of a client allowed on every account, for a newcomer's first requests. Only the
 * embedded database gets one (a developer machine): created at the first start, kept in DATA_DIR,
 * and made anew if the database no longer knows it (DATA_DIR/pg deleted, the client revoked).
 */
export async function demoApiKey(
  dataDir: string,
  clients: { manage: ManageClientsUseCase; authenticate: AuthenticateClientUseCase },
): Promise<string> {
  const file = join(dataDir, DEMO_KEY_FILE);
  const stored = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (stored) {
    try {
      await clients.authenticate.execute(stored);
      return stored;
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
    }
  }
  const { apiKey } = await clients.manage.create('demo', ['*']);
  const staging = `${file}.${process.pid}.tmp`;
  writeFileSync(staging, `${apiKey}\n`, { mode: 0o600 });
  chmodSync(staging, 0o600);
  renameSync(staging, file);
  return apiKey;
}
