import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../config/app-config';
import { EmbeddedPostgresError } from '../../libs/embedded-postgres/embedded-postgres.error';
import { DomainError } from '../../libs/shared/domain-error';
import { AuthenticateClientUseCase } from '../clients/application/authenticate-client.use-case';
import { ManageClientsUseCase } from '../clients/application/manage-clients.use-case';
import { demoApiKey } from './demo-client';
import { startupBanner } from './startup-banner';
import { describeStartupFailure } from './startup-failure';

describe('describeStartupFailure: known causes in one line, saying what to do', () => {
  it.each([
    [
      new EmbeddedPostgresError('port 54329 is taken by another program', 'set EMBEDDED_POSTGRES_PORT to a free port'),
      'embedded PostgreSQL: port 54329 is taken by another program; set EMBEDDED_POSTGRES_PORT to a free port',
    ],
    [
      Object.assign(new Error('listen EADDRINUSE: address already in use 0.0.0.0:3000'), {
        code: 'EADDRINUSE',
        syscall: 'listen',
        port: 3000,
      }),
      'port 3000 is already in use; set PORT (the API) or SIMULATOR_PORT (the simulator) to a free port, or stop the program using it',
    ],
    [
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), {
        code: 'ECONNREFUSED',
        address: '10.0.0.5',
        port: 5432,
      }),
      'cannot reach the database of DATABASE_URL (10.0.0.5:5432): ECONNREFUSED; check that the server runs and DATABASE_URL names it',
    ],
    [
      Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' }),
      'the database refused the credentials in DATABASE_URL (password authentication failed for user "app"); check the user and password',
    ],
  ])('%s', (err, line) => {
    expect(describeStartupFailure(err)).toBe(line);
    expect(describeStartupFailure(err)).not.toContain('\n');
  });

  it('configuration errors keep their list of variables', () => {
    expect(describeStartupFailure(new ConfigError('invalid configuration:\n  PORT: bad'))).toBe(
      'invalid configuration:\n  PORT: bad',
    );
  });

  it('anything else keeps its stack: it is a bug to report', () => {
    const err = new Error('boom');
    expect(describeStartupFailure(err)).toBe(`fatal: ${err.stack}`);
  });
});

describe('startupBanner', () => {
  it('with the embedded database: URL, demo key, console, docs and one curl line using that key', () => {
    const banner = startupBanner({
      port: 3000,
      demo: { apiKey: 'rk_demo', dataDir: join(process.cwd(), '.data') },
      simulated: true,
    });
    expect(banner).toContain('alicloud-recharge is ready at http://localhost:3000');
    expect(banner).toContain('Demo API key  rk_demo');
    expect(banner).toContain('kept in .data/demo-api-key');
    expect(banner).toContain('Console       http://localhost:3000/console');
    expect(banner).toContain('API docs      http://localhost:3000/docs');
    const curls = banner.split('\n').filter((l) => l.trim().startsWith('curl '));
    expect(curls).toHaveLength(1);
    expect(curls[0]).toContain("-H 'Authorization: Bearer rk_demo'");
    expect(curls[0]).toContain('http://localhost:3000/v1/recharges');
    expect(banner).toContain('no real money moves');
  });

  it('without it (DATABASE_URL set): no key, no curl, and the real provider said plainly', () => {
    const banner = startupBanner({ port: 8080, demo: null, simulated: false });
    expect(banner).not.toContain('rk_');
    expect(banner).not.toContain('curl');
    expect(banner).toContain('Provider: Alibaba Cloud (real accounts, real money)');
  });
});

describe('demoApiKey: made once, kept in DATA_DIR with mode 0600, made anew when the database forgot it', () => {
  let dataDir: string;
  const known = new Set<string>();
  let created = 0;
  const clients = {
    manage: {
      create: async () => {
        const apiKey = `rk_${++created}`;
        known.add(apiKey);
        return { apiKey };
      },
    } as unknown as ManageClientsUseCase,
    authenticate: {
      execute: async (key: string) => {
        if (!known.has(key)) throw new DomainError('UNAUTHENTICATED', 'unknown or revoked API key');
        return {};
      },
    } as unknown as AuthenticateClientUseCase,
  };

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'demo-key-'));
    known.clear();
    created = 0;
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('the first start creates the client and stores its key; the next start shows the same key', async () => {
    const first = await demoApiKey(dataDir, clients);
    expect(first).toBe('rk_1');
    expect(readFileSync(join(dataDir, 'demo-api-key'), 'utf8').trim()).toBe('rk_1');
    expect(statSync(join(dataDir, 'demo-api-key')).mode & 0o777).toBe(0o600);
    expect(await demoApiKey(dataDir, clients)).toBe('rk_1');
    expect(created).toBe(1);
  });

  it('a stored key the database does not know (data deleted, client revoked) is replaced', async () => {
    writeFileSync(join(dataDir, 'demo-api-key'), 'rk_forgotten\n');
    expect(await demoApiKey(dataDir, clients)).toBe('rk_1');
    expect(readFileSync(join(dataDir, 'demo-api-key'), 'utf8').trim()).toBe('rk_1');
  });
});
