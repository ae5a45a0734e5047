import { ManageClientsUseCase } from '../../../src/clients/application/manage-clients.use-case';
import { DeliverCallbacksUseCase } from '../../../src/recharge/application/deliver-callbacks.use-case';
import { CallbackReceiver, Sql, sqlOn, startCallbackReceiver } from '../../support/confirmations';
import { createTestDatabase } from '../../support/database';
import { newAccountId } from '../../support/dispatcher-harness';
import { newKey, PROBLEM_JSON } from '../../support/e2e-helpers';
import { startTestAppOn, TestApp } from '../../support/test-app';

/**
 * What is checked when a callback is created and again when it is delivered: user info refused
 * at creation; at delivery a revoked client, a host removed from CALLBACK_ALLOWED_HOSTS and a
 * private address (without CALLBACK_ALLOW_PRIVATE_NETWORKS) are refused. Several app instances
 * share one database, standing in for a restart with changed configuration.
 */
describe('callback guards at creation and delivery', () => {
  let receiver: CallbackReceiver;
  let databaseUrl: string;
  let creator: TestApp; // allowlist 127.0.0.1, private networks allowed (the loopback test setup)
  let sql: Sql;

  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    databaseUrl = await createTestDatabase();
    creator = await startTestAppOn(databaseUrl, {
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1,*.callbacks.test',
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    sql = sqlOn(databaseUrl);
  });
  afterAll(async () => {
    await sql?.close();
    await creator?.close();
    await receiver?.close();
  });
  beforeEach(() => {
    receiver.received.length = 0;
  });

  /** A canceled recharge whose recharge.canceled callback is due now. */
  async function queuedCallback(apiKey: string): Promise<string> {
    const res = await creator.http
      .post('/v1/recharges')
      .set('Authorization', `Bearer ${apiKey}`)
      .set('Idempotency-Key', newKey())
      .send({ accountId: newAccountId(), amount: 100, currency: 'CNY', callbackUrl: `${receiver.url}/hook` });
    expect(res.status).toBe(202);
    await creator.http.post(`/v1/recharges/${res.body.id}/cancel`).set('Authorization', `Bearer ${apiKey}`).expect(200);
    return res.body.id as string;
  }
  const deliveryOf = async (rechargeId: string) =>
    (
      await sql<{ id: string; status: string; attempts: number; last_error: string | null }>(
        'SELECT id, status, attempts, last_error FROM callback_deliveries WHERE recharge_id = $1',
        [rechargeId],
      )
    )[0];
  const attemptErrors = async (deliveryId: string) =>
    (
      await sql<{ error: string | null }>('SELECT error FROM callback_attempts WHERE delivery_id = $1 ORDER BY id', [
        deliveryId,
      ])
    ).map((r) => r.error);

  it.each([
    ['user and password', 'http://alice:hunter2@127.0.0.1/hook'],
    ['a user only', 'http://alice@127.0.0.1/hook'],
    ['an encoded password', 'https://u:p%40ss@hooks.callbacks.test/hook'],
  ])('a callbackUrl with %s → 400 at creation, nothing stored, the credentials not echoed', async (_label, url) => {
    const client = await creator.createClient(['*']);
    const [{ n: before }] = await sql<{ n: string }>('SELECT count(*) AS n FROM recharges');
    const res = await creator.http
      .post('/v1/recharges')
      .set('Authorization', `Bearer ${client.apiKey}`)
      .set('Idempotency-Key', newKey())
      .send({ accountId: newAccountId(), amount: 100, currency: 'CNY', callbackUrl: url });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM_JSON);
    expect(res.body).toMatchObject({
      code: 'INVALID_ARGUMENT',
      errors: [{ field: 'callbackUrl', message: 'callbackUrl must not carry user info (user:password@)' }],
    });
    expect(JSON.stringify(res.body)).not.toMatch(/hunter2|alice|p%40ss/);
    const [{ n: after }] = await sql<{ n: string }>('SELECT count(*) AS n FROM recharges');
    expect(after).toBe(before);
  });

  it('a revoked client gets no more callbacks: its pending delivery is abandoned unsent, with the reason', async () => {
    const client = await creator.createClient(['*']);
    const id = await queuedCallback(client.apiKey);
    await creator.app.get(ManageClientsUseCase).revoke(client.clientId);

    expect(await creator.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(1);
    expect(receiver.received).toHaveLength(0);
    const d = await deliveryOf(id);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, last_error: 'abandoned: the client was revoked' });
    expect(await attemptErrors(d.id)).toEqual(['abandoned: the client was revoked']);
    // Abandoned for good: nothing is due any more.
    expect(await creator.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(0);
  });

  it('a host removed from CALLBACK_ALLOWED_HOSTS after creation: the delivery is abandoned with the reason, nothing sent', async () => {
    const client = await creator.createClient(['*']);
    const id = await queuedCallback(client.apiKey);
    const restarted = await startTestAppOn(databaseUrl, {
      CALLBACK_ALLOWED_HOSTS: 'hooks.example.com',
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    try {
      expect(await restarted.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(1);
    } finally {
      await restarted.close();
    }
    expect(receiver.received).toHaveLength(0);
    const d = await deliveryOf(id);
    expect(d).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: 'abandoned: 127.0.0.1 is no longer in CALLBACK_ALLOWED_HOSTS',
    });
  });

  it('without CALLBACK_ALLOW_PRIVATE_NETWORKS (the default) a loopback destination is refused at delivery and retried later', async () => {
    const client = await creator.createClient(['*']);
    const id = await queuedCallback(client.apiKey);
    const strict = await startTestAppOn(databaseUrl, { CALLBACK_ALLOWED_HOSTS: '127.0.0.1' });
    try {
      expect(strict.config.callbackAllowPrivateNetworks).toBe(false);
      expect(await strict.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(1);
    } finally {
      await strict.close();
    }
    expect(receiver.received).toHaveLength(0);
    const d = await deliveryOf(id);
    expect(d.status).toBe('pending');
    expect(d.last_error).toMatch(/^refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1 \(ipv4 loopback\)/);
    // The same delivery goes through once private networks are allowed (the check, not the receiver, refused it).
    await sql('UPDATE callback_deliveries SET next_attempt_at = now() WHERE id = $1', [d.id]);
    expect(await creator.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(1);
    expect(receiver.received).toHaveLength(1);
    expect((await deliveryOf(id)).status).toBe('delivered');
  });
});
