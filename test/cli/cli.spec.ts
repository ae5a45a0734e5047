import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBssSimulator } from '../../libs/bss-simulator';
import { query } from '../support/database';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * The compiled CLI as an operator runs it: a child process against a real database. The service
 * under test (startTestApp) shares that database, so a key the CLI prints must work on the API.
 */
const ROOT = resolve(__dirname, '../..');
// Private build output (inside node_modules so the compiled code resolves its dependencies), so
// this suite neither races nor clobbers a concurrent `npm run build` into dist/.
const OUT = join(ROOT, 'node_modules', '.cache', `cli-spec-${process.pid}`);
const CLI = join(OUT, 'src', 'cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let t: TestApp;

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: t.databaseUrl, LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** --json contract: stdout is exactly one JSON object (one line) and nothing else. */
function onlyJson(run: Run): Record<string, any> {
  expect(run.stdout.endsWith('\n')).toBe(true);
  expect(run.stdout.trimEnd().split('\n')).toHaveLength(1);
  const parsed = JSON.parse(run.stdout);
  expect(parsed).toEqual(expect.any(Object));
  expect(Array.isArray(parsed)).toBe(false);
  return parsed;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  const build = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--outDir', OUT], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  // Type errors are the typecheck step's business; only a missing output stops this suite.
  if (!existsSync(CLI)) throw new Error(`CLI build failed:\n${build.stdout}${build.stderr}`);
  t = await startTestApp();
}, 180_000);

afterAll(async () => {
  await t?.close();
  rmSync(OUT, { recursive: true, force: true });
});

describe('clients:create', () => {
  it('--json prints exactly clientId, apiKey and webhookSecret; only the key hash is stored, and the key works', async () => {
    const run = await cli([
      'clients:create',
      '--name',
      'Billing team',
      '--accounts',
      '1234567890123456, 2222',
      '--json',
    ]);
    expect(run.code).toBe(0);
    const out = onlyJson(run);
    expect(Object.keys(out).sort()).toEqual(['apiKey', 'clientId', 'webhookSecret']);
    expect(out.clientId).toMatch(/^cli_[0-9a-f]{32}$/);
    expect(out.apiKey).toMatch(/^rk_/);
    expect(out.webhookSecret).toMatch(/^whsec_/);

    const [row] = await query<{
      name: string;
      api_key_hash: string;
      api_key_prefix: string;
      allowed_accounts: string[];
      revoked_at: Date | null;
    }>(
      t.databaseUrl,
      'SELECT name, api_key_hash, api_key_prefix, allowed_accounts, revoked_at FROM clients WHERE id = $1',
      [out.clientId],
    );
    expect(row).toMatchObject({
      name: 'Billing team',
      api_key_hash: sha256(out.apiKey),
      api_key_prefix: out.apiKey.slice(0, 10),
      revoked_at: null,
    });
    expect(row.allowed_accounts).toEqual(['1234567890123456', '2222']);

    const list = await t.http.get('/v1/recharges').set('Authorization', `Bearer ${out.apiKey}`);
    expect(list.status).toBe(200);
  });

  it('prints the secrets once for a human, with a warning', async () => {
    const run = await cli(['clients:create', '--name', 'ops', '--accounts', '*']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/API key:\s+rk_\S+/);
    expect(run.stdout).toMatch(/webhook secret:\s+whsec_\S+/);
    expect(run.stdout).toMatch(/shown only now/);
  });

  it('refuses an account list that is not UIDs or * (exit 1, nothing stored)', async () => {
    const before = await query<{ n: number }>(t.databaseUrl, 'SELECT count(*)::int AS n FROM clients');
    const run = await cli(['clients:create', '--name', 'x', '--accounts', 'abc', '--json']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('not an account UID: "abc"');
    expect(await query(t.databaseUrl, 'SELECT count(*)::int AS n FROM clients')).toEqual(before);
  });

  it('item 7: refuses an account with a leading zero (0123 would be a second ledger for 123)', async () => {
    const before = await query<{ n: number }>(t.databaseUrl, 'SELECT count(*)::int AS n FROM clients');
    const run = await cli(['clients:create', '--name', 'x', '--accounts', '42,0123', '--json']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('not an account UID: "0123"');
    expect(await query(t.databaseUrl, 'SELECT count(*)::int AS n FROM clients')).toEqual(before);
  });

  it('is a usage error without --name (exit 2, commander message)', async () => {
    const run = await cli(['clients:create', '--accounts', '*', '--json']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("required option '--name <name>' not specified");
  });
});

describe('clients:list', () => {
  it('--json lists clients without any secret', async () => {
    const created = onlyJson(await cli(['clients:create', '--name', 'listed', '--accounts', '42', '--json']));
    const run = await cli(['clients:list', '--json']);
    expect(run.code).toBe(0);
    const out = onlyJson(run);
    expect(Object.keys(out)).toEqual(['clients']);
    const mine = out.clients.find((c: { id: string }) => c.id === created.clientId);
    expect(mine).toEqual({
      id: created.clientId,
      name: 'listed',
      apiKeyPrefix: created.apiKey.slice(0, 10),
      allowedAccounts: ['42'],
      weight: 1,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      revokedAt: null,
    });
    expect(run.stdout).not.toContain(created.apiKey);
    expect(run.stdout).not.toContain(created.webhookSecret);
    expect(run.stdout).not.toContain(sha256(created.apiKey));
  });

  it('prints a table for a human', async () => {
    const run = await cli(['clients:list']);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+KEY PREFIX\s+ACCOUNTS\s+WEIGHT\s+CREATED\s+REVOKED$/);
    expect(run.stdout).toContain('listed');
  });
});

describe('clients:weight (share of the provider budget)', () => {
  it('clients:create --weight stores it; clients:weight changes it', async () => {
    const created = onlyJson(
      await cli(['clients:create', '--name', 'weighted', '--accounts', '*', '--weight', '3', '--json']),
    );
    const weightOf = async () =>
      (
        await query<{ weight: number }>(t.databaseUrl, 'SELECT weight FROM clients WHERE id = $1', [created.clientId])
      )[0]!.weight;
    expect(await weightOf()).toBe(3);

    const run = await cli(['clients:weight', created.clientId, '5', '--json']);
    expect(run.code).toBe(0);
    expect(onlyJson(run)).toEqual({ clientId: created.clientId, weight: 5 });
    expect(await weightOf()).toBe(5);
  });

  it.each(['0', '2.5', 'x', '1001'])('refuses weight %s (exit 1, nothing changed)', async (weight) => {
    const created = onlyJson(await cli(['clients:create', '--name', 'w', '--accounts', '*', '--json']));
    const run = await cli(['clients:weight', created.clientId, weight, '--json']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/weight must be an integer from 1 to 1000/);
    const [row] = await query<{ weight: number }>(t.databaseUrl, 'SELECT weight FROM clients WHERE id = $1', [
      created.clientId,
    ]);
    expect(row!.weight).toBe(1);
  });

  it('an unknown client is an error (exit 1)', async () => {
    const run = await cli(['clients:weight', 'cli_missing', '2']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('client cli_missing not found');
  });
});

describe('clients:revoke', () => {
  it('--json revokes: revoked_at is set and the key stops working', async () => {
    const created = onlyJson(await cli(['clients:create', '--name', 'leaving', '--accounts', '*', '--json']));
    const run = await cli(['clients:revoke', created.clientId, '--json']);
    expect(run.code).toBe(0);
    const out = onlyJson(run);
    expect(Object.keys(out).sort()).toEqual(['clientId', 'revokedAt']);
    expect(out.clientId).toBe(created.clientId);
    const [row] = await query<{ revoked_at: Date }>(t.databaseUrl, 'SELECT revoked_at FROM clients WHERE id = $1', [
      created.clientId,
    ]);
    expect(row.revoked_at.toISOString()).toBe(out.revokedAt);

    const list = await t.http.get('/v1/recharges').set('Authorization', `Bearer ${created.apiKey}`);
    expect(list.status).toBe(401);
  });

  it('fails with exit 1 for an unknown client', async () => {
    const run = await cli(['clients:revoke', 'cli_00000000000000000000000000000000', '--json']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('client cli_00000000000000000000000000000000 not found');
  });

  it('is a usage error without the id (exit 2)', async () => {
    const run = await cli(['clients:revoke']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("missing required argument 'clientId'");
  });
});

describe('recharges:show', () => {
  let rechargeId: string;
  let clientId: string;
  let representation: Record<string, unknown>;

  beforeAll(async () => {
    const created = onlyJson(
      await cli(['clients:create', '--name', 'shop', '--accounts', '1234567890123456', '--json']),
    );
    clientId = created.clientId;
    const res = await t.http
      .post('/v1/recharges')
      .set('Authorization', `Bearer ${created.apiKey}`)
      .set('Idempotency-Key', 'cli-show-1')
      .send({ accountId: '1234567890123456', amount: 4999, currency: 'CNY', metadata: { ticket: 'T-1' } });
    expect([201, 202]).toContain(res.status);
    rechargeId = res.body.id;
    representation = res.body;
  });

  it('--json prints the recharge representation (plus its client) and its events', async () => {
    const run = await cli(['recharges:show', rechargeId, '--json']);
    expect(run.code).toBe(0);
    const out = onlyJson(run);
    expect(Object.keys(out)).toEqual(['recharge', 'events']);
    // The dispatcher is off in the test app, so the recharge is exactly as the API returned it.
    expect(out.recharge).toEqual({ ...representation, clientId });
    expect(out.recharge).toMatchObject({ id: rechargeId, state: 'CREATED', amount: 4999, metadata: { ticket: 'T-1' } });
    expect(out.events).toEqual([
      { from: null, to: 'CREATED', reason: expect.any(String), source: 'api', at: out.recharge.createdAt },
    ]);
  });

  it('prints the fields and the event history for a human', async () => {
    const run = await cli(['recharges:show', rechargeId]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Recharge ${rechargeId}`);
    expect(run.stdout).toMatch(/clientId\s+cli_/);
    expect(run.stdout).toMatch(/Events \(1\)/);
    expect(run.stdout).toMatch(/-\s+CREATED\s+api/);
  });

  it('fails with exit 1 for an unknown recharge', async () => {
    const run = await cli(['recharges:show', 'rch_00000000000000000000000000000000', '--json']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('recharge rch_00000000000000000000000000000000 not found');
  });
});

describe('reconcile', () => {
  it('runs one pass now: re-drives a waiting recharge to the provider and records the run', async () => {
    const simulator = await createBssSimulator({ port: 0 });
    try {
      const { apiKey } = await t.createClient(['*']);
      const created = await t.http
        .post('/v1/recharges')
        .set('Authorization', `Bearer ${apiKey}`)
        .set('Idempotency-Key', `cli-reconcile-${Date.now()}`)
        .send({ accountId: '7000000000000001', amount: 1234, currency: 'CNY' });
      expect(created.status).toBe(202);

      const run = await cli(['reconcile', '--json'], {
        PROVIDER: 'simulator',
        ALIBABA_CLOUD_BSS_ENDPOINT: simulator.url,
      });
      expect({ code: run.code, stderr: run.stderr.includes('error') ? run.stderr : '' }).toEqual({
        code: 0,
        stderr: '',
      });
      const report = onlyJson(run);
      expect(report).toMatchObject({ outcome: 'succeeded', error: null, expired: 0 });
      expect(report.runId).toMatch(/^rec_[0-9a-f]{32}$/);
      expect(report.redriven).toBeGreaterThanOrEqual(1);

      const [row] = await query<{ outcome: string; finished_at: Date | null; redriven: number }>(
        t.databaseUrl,
        'SELECT outcome, finished_at, redriven FROM reconciliation_runs WHERE id = $1',
        [report.runId],
      );
      expect(row.outcome).toBe('succeeded');
      expect(row.finished_at).not.toBeNull();
      expect(row.redriven).toBe(report.redriven);
      const [recharge] = await query<{ state: string }>(t.databaseUrl, 'SELECT state FROM recharges WHERE id = $1', [
        created.body.id,
      ]);
      expect(recharge.state).toBe('SUCCEEDED');
      expect(simulator.credits().filter((c) => c.outBizId === created.body.id)).toHaveLength(1);
    } finally {
      await simulator.close();
    }
  });
});

describe('rules:list, rules:pause, rules:resume', () => {
  let ruleId: string;
  let clientId: string;

  beforeAll(async () => {
    const created = onlyJson(await cli(['clients:create', '--name', 'rules', '--accounts', '*', '--json']));
    clientId = created.clientId;
    const res = await t.http
      .post('/v1/rules')
      .set('Authorization', `Bearer ${created.apiKey}`)
      .send({
        accountId: '7654321',
        currency: 'CNY',
        trigger: { type: 'threshold', below: 50000 },
        topUp: { type: 'target', amount: 200000 },
      })
      .expect(201);
    ruleId = res.body.id;
  });

  it('--json lists every client’s rules with their client; filters narrow it', async () => {
    const out = onlyJson(await cli(['rules:list', '--json']));
    expect(out.rules).toContainEqual(
      expect.objectContaining({ id: ruleId, clientId, status: 'active', accountId: '7654321' }),
    );
    expect(onlyJson(await cli(['rules:list', '--status', 'paused', '--client', clientId, '--json']))).toEqual({
      rules: [],
    });
  });

  it('pauses and resumes a rule (resuming a disabled one resets its failures)', async () => {
    const paused = onlyJson(await cli(['rules:pause', ruleId, '--json']));
    expect(paused).toMatchObject({ id: ruleId, status: 'paused' });
    await query(t.databaseUrl, `UPDATE rules SET status = 'disabled', consecutive_failures = 3 WHERE id = $1`, [
      ruleId,
    ]);
    const resumed = await cli(['rules:resume', ruleId]);
    expect(resumed).toMatchObject({ code: 0, stdout: `Rule ${ruleId} resumed (evaluated at once): status active.\n` });
    const [row] = await query(t.databaseUrl, 'SELECT status, consecutive_failures FROM rules WHERE id = $1', [ruleId]);
    expect(row).toEqual({ status: 'active', consecutive_failures: 0 });
    const table = await cli(['rules:list', '--client', clientId]);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^ID\s+CLIENT\s+ACCOUNT\s+CUR\s+TRIGGER\s+TOP-UP\s+STATUS\s+FAILURES\s+LAST DECISION$/,
    );
    expect(table.stdout).toContain('below 50000');
  });

  it('fails with exit 1 for an unknown rule or a bad --status', async () => {
    const unknown = await cli(['rules:pause', 'rul_00000000000000000000000000000000']);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/not found/);
    expect((await cli(['rules:list', '--status', 'sleeping'])).code).toBe(1);
  });
});

describe('usage and configuration', () => {
  it('an unknown command is a usage error (exit 2)', async () => {
    const run = await cli(['clients:lst']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown command 'clients:lst'");
  });

  it('--help prints usage on stdout and exits 0', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    for (const c of ['clients:create', 'clients:list', 'clients:revoke', 'recharges:show', 'reconcile'])
      expect(run.stdout).toContain(c);
  });

  it('bad configuration is reported on stderr with exit 1', async () => {
    const run = await cli(['clients:list', '--json'], { DATABASE_URL: 'mysql://nope' });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('DATABASE_URL must be a postgres:// URL');
  });
});

describe('operators:create / operators:list / operators:revoke', () => {
  it('creates an operator (token shown once, stored hashed) whose token works on /admin and not on /v1, lists and revokes it', async () => {
    const run = await cli(['operators:create', '--name', 'Olivia', '--role', 'operator', '--json']);
    expect(run.code).toBe(0);
    const out = onlyJson(run);
    expect(Object.keys(out).sort()).toEqual(['operatorId', 'token']);
    expect(out.operatorId).toMatch(/^opr_[0-9a-f]{32}$/);
    expect(out.token).toMatch(/^op_[A-Za-z0-9_-]{43}$/);
    const [row] = await query<{ role: string; token_hash: string }>(
      t.databaseUrl,
      'SELECT role, token_hash FROM operators WHERE id = $1',
      [out.operatorId],
    );
    expect(row).toEqual({ role: 'operator', token_hash: sha256(out.token) });

    const me = await t.http.get('/admin/v1/me').set('Authorization', `Bearer ${out.token}`);
    expect(me.body).toMatchObject({ operatorId: out.operatorId, role: 'operator', mayAct: true });
    expect((await t.http.get('/v1/recharges').set('Authorization', `Bearer ${out.token}`)).status).toBe(401);

    const list = await cli(['operators:list', '--json']);
    const listed = onlyJson(list).operators.find((o: { id: string }) => o.id === out.operatorId);
    expect(listed).toMatchObject({ name: 'Olivia', role: 'operator', revokedAt: null });
    expect(list.stdout).not.toContain(out.token);
    const human = await cli(['operators:list']);
    expect(human.stdout).toMatch(/ID\s+NAME\s+ROLE/);
    expect(human.stdout).not.toContain(out.token);

    const revoked = await cli(['operators:revoke', out.operatorId, '--json']);
    expect(revoked.code).toBe(0);
    expect(onlyJson(revoked)).toEqual({ operatorId: out.operatorId, revokedAt: expect.any(String) });
  });

  it('refuses a role other than viewer or operator (exit 1, nothing stored) and an unknown id on revoke', async () => {
    const before = await query<{ n: number }>(t.databaseUrl, 'SELECT count(*)::int AS n FROM operators');
    const bad = await cli(['operators:create', '--name', 'Mallory', '--role', 'admin']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/role must be one of viewer, operator/);
    expect(await query(t.databaseUrl, 'SELECT count(*)::int AS n FROM operators')).toEqual(before);
    const missing = await cli(['operators:revoke', 'opr_00000000000000000000000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/operator opr_0+ not found/);
  });

  it('the human output of operators:create warns that the token is shown only once', async () => {
    const run = await cli(['operators:create', '--name', 'Vic', '--role', 'viewer']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/token: op_/);
    expect(run.stdout).toMatch(/shown only now/);
  });
});
