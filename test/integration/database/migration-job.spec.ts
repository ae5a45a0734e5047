import { join } from 'node:path';
import { BssSimulator, createBssSimulator } from '../../../libs/bss-simulator';
import { rolesDatabase } from '../../support/database';
import { freePort, runNode, ServiceProcessHandle, startCompiledService } from '../../support/node-process';
import { compiledService } from '../../support/private-build';
import { sleep } from '../../support/wait';

/**
 * The deployment's way of running, with the compiled entry points: the service on its DDL-less
 * role (MIGRATE_ON_START=false, METRICS_PORT set) starts on an empty database and stays unready;
 * the migration Job (`migrate.js`) with nothing but DATABASE_URL of the migrator role applies the
 * migrations; the service becomes ready. /metrics answers on its own port only.
 */
const BUILD_AND_START_MS = 180_000;

describe('migration Job and a DDL-less service role (compiled)', () => {
  const db = rolesDatabase('job');
  const { migrator, appRole, password, urlAs } = db;
  let build: string;
  let sim: BssSimulator;
  let service: ServiceProcessHandle | undefined;
  let metricsPort: number;

  beforeAll(async () => {
    build = compiledService();
    await db.create();
    sim = await createBssSimulator({ port: 0 });
    metricsPort = await freePort();
    service = await startCompiledService(build, {
      DATABASE_URL: urlAs(appRole),
      MIGRATE_ON_START: 'false',
      METRICS_PORT: String(metricsPort),
      PROVIDER: 'simulator',
      ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
      LOG_LEVEL: 'info',
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      SHUTDOWN_GRACE_MS: '2000',
    });
  }, BUILD_AND_START_MS);

  afterAll(async () => {
    await service?.kill();
    await sim?.close();
    await db.drop();
  });

  it('starts without migrating and is not ready; the Job (DATABASE_URL only) migrates; then it is ready; metrics on their own port', async () => {
    expect(service!.output()).toMatch(/MIGRATE_ON_START=false: not migrating/);
    const notReady = await fetch(`${service!.url}/health/ready`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).not.toMatch(/relation|does not exist|mikro_orm/i);

    const job = await runNode(join(build, 'src', 'migrate.js'), [], { DATABASE_URL: urlAs(migrator) });
    expect({ code: job.code, stderr: job.stderr }).toEqual({ code: 0, stderr: '' });
    expect(job.stdout).toMatch(/applied \d+ migration\(s\)/);
    expect(job.stdout).not.toContain(password);

    let ready = 0;
    for (let i = 0; i < 100 && ready !== 200; i++) {
      ready = (await fetch(`${service!.url}/health/ready`)).status;
      if (ready !== 200) await sleep(100);
    }
    expect(ready).toBe(200);

    expect((await fetch(`${service!.url}/metrics`)).status).toBe(404);
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# HELP recharge_/m);

    const exit = await service!.stop(10_000);
    expect(exit.code).toBe(0);
    await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
  });
});
