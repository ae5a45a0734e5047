import { query } from '../support/database';
import { freePort } from '../support/node-process';
import { startMetricsServer } from '../../src/observability/metrics-server';
import { PrometheusTelemetry } from '../../src/observability/prometheus-telemetry';
import { startTestApp, TestApp } from '../support/test-app';

describe('METRICS_PORT: /metrics on a port of its own', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ METRICS_PORT: String(await freePort()) });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('the API port no longer serves /metrics; the metrics port serves only /metrics', async () => {
    const onApi = await t.http.get('/metrics');
    expect(onApi.status).toBe(404);
    expect(onApi.text).not.toMatch(/recharge_/);

    const server = await startMetricsServer(
      t.app.get(PrometheusTelemetry).registry,
      t.config.metricsPort!,
      '127.0.0.1',
    );
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toMatch(/^# HELP recharge_/m);
      expect((await fetch(`http://127.0.0.1:${server.port}/v1/recharges`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('without METRICS_PORT /metrics stays on the API port', async () => {
    const plain = await startTestApp();
    try {
      const res = await plain.http.get('/metrics');
      expect(res.status).toBe(200);
      expect(res.text).toMatch(/recharge_/);
    } finally {
      await plain.close();
    }
  });
});

describe('readiness says what is down, never why in words from the database', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a failing database check answers 503 without the error text', async () => {
    expect((await t.http.get('/health/ready')).status).toBe(200);
    await query(t.databaseUrl, 'ALTER TABLE mikro_orm_migrations RENAME TO mikro_orm_migrations_hidden');
    try {
      const res = await t.http.get('/health/ready');
      expect(res.status).toBe(503);
      expect(res.body.error?.database ?? res.body.details?.database).toEqual({ status: 'down', reachable: false });
      expect(res.text).not.toMatch(/relation|does not exist|mikro_orm|select|postgres/i);
    } finally {
      await query(t.databaseUrl, 'ALTER TABLE mikro_orm_migrations_hidden RENAME TO mikro_orm_migrations');
    }
    expect((await t.http.get('/health/ready')).status).toBe(200);
  });
});
