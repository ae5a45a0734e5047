import { Webhook } from 'standardwebhooks';
import { ManageClientsUseCase } from '../../../src/clients/application/manage-clients.use-case';
import { PgStatements } from '../../../src/database/pg-statements';
import { DeliverCallbacksUseCase } from '../../../src/recharge/application/deliver-callbacks.use-case';
import { RuleRepository } from '../../../src/rules/application/ports/rule.repository';
import { ruleDisabledCallback } from '../../../src/rules/application/rule.representation';
import { ENQUEUE_RULE_CALLBACK } from '../../../src/rules/infrastructure/rule.statements';
import { CallbackReceiver, Sql, sqlOn, startCallbackReceiver } from '../../support/confirmations';
import { createTestDatabase } from '../../support/database';
import { newAccountId } from '../../support/dispatcher-harness';
import { seedRecharge } from '../../support/admin-fixtures';
import { startTestAppOn, TestApp } from '../../support/test-app';

/**
 * `rule.disabled` callbacks share the recharges' outbox and sender. They have no recharge
 * (recharge_id NULL), so the per-recharge rules of the outbox — one waiting callback per recharge,
 * none claimed while another of its recharge is on the wire — must neither hold them back nor let
 * them through unchecked: the revoked-client, allowlist and address checks apply to them too.
 * Each callback is queued with the statement and payload the rule's evaluation uses (the whole
 * three-failures path is the rules suite's); several app instances share one database, standing
 * in for restarts with another configuration.
 */
describe('rule.disabled callbacks through the outbox and the SSRF-safe sender', () => {
  let receiver: CallbackReceiver;
  let databaseUrl: string;
  let app: TestApp; // allowlist 127.0.0.1, private networks allowed (the loopback test setup)
  let sql: Sql;

  beforeAll(async () => {
    receiver = await startCallbackReceiver();
    databaseUrl = await createTestDatabase();
    app = await startTestAppOn(databaseUrl, {
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1,hooks.example.com',
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    sql = sqlOn(databaseUrl);
  });
  afterAll(async () => {
    await sql?.close();
    await app?.close();
    await receiver?.close();
  });
  beforeEach(async () => {
    receiver.received.length = 0;
    // Each case starts with nothing due from the previous ones.
    await sql(`UPDATE callback_deliveries SET status = 'failed', next_attempt_at = NULL WHERE status = 'pending'`);
  });

  /** A rule of the client with a callbackUrl, disabled, its rule.disabled callback due now. */
  async function queuedRuleDisabled(apiKey: string, path = '/rules'): Promise<{ ruleId: string; deliveryId: string }> {
    const res = await app.http
      .post('/v1/rules')
      .set('Authorization', `Bearer ${apiKey}`)
      .send({
        accountId: newAccountId(),
        currency: 'CNY',
        trigger: { type: 'threshold', below: 50000 },
        topUp: { type: 'target', amount: 200000 },
        callbackUrl: `${receiver.url}${path}`,
      })
      .expect(201);
    const view = await app.app.get(RuleRepository).find(res.body.id);
    const rule = view!.rule;
    rule.status = 'disabled';
    rule.disabledReason = '3 top-ups in a row did not succeed';
    const c = ruleDisabledCallback(rule, new Date())!;
    await app.app
      .get(PgStatements)
      .query(ENQUEUE_RULE_CALLBACK, [c.id, rule.id, rule.clientId, c.url, c.eventType, c.payload, new Date()]);
    return { ruleId: rule.id, deliveryId: c.id };
  }
  const deliveries = async (ids: string[]) =>
    sql<{ id: string; status: string; attempts: number; last_error: string | null; recharge_id: string | null }>(
      'SELECT id, status, attempts, last_error, recharge_id FROM callback_deliveries WHERE id = ANY($1) ORDER BY id',
      [ids],
    );

  it('several waiting at once, none held back by another on the wire or by a recharge callback on the wire; signed', async () => {
    const client = await app.createClient(['*']);
    const first = await queuedRuleDisabled(client.apiKey, '/rules/first');
    const second = await queuedRuleDisabled(client.apiKey, '/rules/second');
    // A third one of the same client is on the wire right now (leased, not due).
    const onTheWire = await queuedRuleDisabled(client.apiKey, '/rules/on-the-wire');
    await sql(
      `UPDATE callback_deliveries SET leased_until = now() + interval '1 minute', next_attempt_at = now() + interval '1 minute' WHERE id = $1`,
      [onTheWire.deliveryId],
    );
    // And a recharge's callback of the same client is on the wire too.
    const rechargeId = await seedRecharge(app, client.apiKey, 'CANCELED', {
      callbackUrl: 'https://hooks.example.com/x',
    });
    await sql(
      `UPDATE callback_deliveries SET leased_until = now() + interval '1 minute', next_attempt_at = now() + interval '1 minute' WHERE recharge_id = $1`,
      [rechargeId],
    );
    const queued = await deliveries([first.deliveryId, second.deliveryId]);
    expect(queued.map((d) => [d.status, d.recharge_id])).toEqual([
      ['pending', null],
      ['pending', null],
    ]);

    expect(await app.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(2);
    expect(receiver.received.map((r) => r.url).sort()).toEqual(['/rules/first', '/rules/second']);
    for (const r of receiver.received) {
      const event = new Webhook(client.webhookSecret).verify(r.body, {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      }) as Record<string, any>;
      expect(event).toMatchObject({ type: 'rule.disabled', data: { status: 'disabled' } });
      expect([first.ruleId, second.ruleId]).toContain(event.subject);
    }
    expect((await deliveries([first.deliveryId, second.deliveryId])).map((d) => d.status)).toEqual([
      'delivered',
      'delivered',
    ]);
    // The leased one stays with its replica: not sent a second time meanwhile.
    expect(await app.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(0);
  });

  it('a revoked client gets no rule.disabled: abandoned unsent, with the reason', async () => {
    const client = await app.createClient(['*']);
    const { deliveryId } = await queuedRuleDisabled(client.apiKey);
    await app.app.get(ManageClientsUseCase).revoke(client.clientId);
    expect(await app.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(1);
    expect(receiver.received).toHaveLength(0);
    expect((await deliveries([deliveryId]))[0]).toMatchObject({
      status: 'failed',
      attempts: 1,
      last_error: 'abandoned: the client was revoked',
    });
  });

  it('a host removed from CALLBACK_ALLOWED_HOSTS, or a private address without CALLBACK_ALLOW_PRIVATE_NETWORKS: refused unsent', async () => {
    const client = await app.createClient(['*']);
    const removed = await queuedRuleDisabled(client.apiKey);
    const narrowed = await startTestAppOn(databaseUrl, {
      CALLBACK_ALLOWED_HOSTS: 'hooks.example.com',
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    try {
      expect(await narrowed.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(1);
    } finally {
      await narrowed.close();
    }
    expect((await deliveries([removed.deliveryId]))[0]).toMatchObject({
      status: 'failed',
      last_error: 'abandoned: 127.0.0.1 is no longer in CALLBACK_ALLOWED_HOSTS',
    });

    const loopback = await queuedRuleDisabled(client.apiKey);
    const strict = await startTestAppOn(databaseUrl, { CALLBACK_ALLOWED_HOSTS: '127.0.0.1' });
    try {
      expect(await strict.app.get(DeliverCallbacksUseCase).deliverDue(16)).toBe(1);
    } finally {
      await strict.close();
    }
    const [d] = await deliveries([loopback.deliveryId]);
    expect(d.status).toBe('pending');
    expect(d.last_error).toMatch(/^refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1 \(ipv4 loopback\)/);
    expect(receiver.received).toHaveLength(0);
  });
});
