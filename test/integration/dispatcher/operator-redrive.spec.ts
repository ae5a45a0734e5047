import { bearer, newKey } from '../../support/e2e-helpers';
import { createOperator } from '../../support/admin-fixtures';
import { DispatcherRig, ledgerRowsOf, startDispatcherRig } from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';

/**
 * An operator's re-drive goes through the real dispatcher and the real pop-core client against the
 * simulator: the recharge is sent again at once with the same OutBizId, the provider applies it at
 * most once, and the whole story (both provider calls, the action) is on the admin detail.
 */
describe('operator re-drive through the dispatcher (same OutBizId, applied once)', () => {
  let rig: DispatcherRig | undefined;

  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('a PENDING_CONFIRMATION recharge whose first send was applied and the answer lost: re-driven now, confirmed, credited once', async () => {
    const accountId = '4242424242';
    // Without the operator the re-send would come only after RECONCILE_AFTER_MS (10 minutes here).
    rig = await startDispatcherRig(
      { faults: [{ fault: 'applyThenDrop', ownerId: accountId, count: 1 }] },
      {
        RECONCILE_AFTER_MS: '600000',
      },
    );
    const r = rig;
    const operator = await createOperator(r.app.app, 'operator', 'olivia');
    const created = await r.app.http
      .post('/v1/recharges')
      .set('Authorization', r.auth)
      .set('Idempotency-Key', newKey())
      .send({ accountId, amount: 4999, currency: 'CNY' });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    const state = async () => (await r.app.http.get(`/v1/recharges/${id}`).set('Authorization', r.auth)).body.state;
    await waitFor(async () => (await state()) === 'PENDING_CONFIRMATION', 20_000, 'the unknown outcome');
    expect(r.sim.credits().filter((c) => c.outBizId === id)).toHaveLength(1);

    const redrive = await r.app.http
      .post(`/admin/v1/recharges/${id}/redrive`)
      .set('Authorization', bearer(operator.token))
      .send({ reason: 'provider answered again after the incident' });
    expect(redrive.status).toBe(200);
    await waitFor(async () => (await state()) === 'SUCCEEDED', 20_000, 'the re-driven recharge to be confirmed');

    expect(r.sim.credits().filter((c) => c.outBizId === id)).toHaveLength(1);
    expect(await ledgerRowsOf(r.databaseUrl, id)).toHaveLength(2);
    const detail = (await r.app.http.get(`/admin/v1/recharges/${id}`).set('Authorization', bearer(operator.token)))
      .body;
    expect(detail.providerCalls.map((c: { outcome: string }) => c.outcome)).toEqual(['unknown', 'succeeded']);
    expect(detail.operatorActions).toEqual([
      expect.objectContaining({ action: 'redrive', reason: 'provider answered again after the incident' }),
    ]);
    expect(detail.events.map((e: { to: string }) => e.to)).toEqual([
      'CREATED',
      'SUBMITTED',
      'PENDING_CONFIRMATION',
      'SUCCEEDED',
    ]);
  });
});
