import { query } from '../../support/database';
import { newKey } from '../../support/e2e-helpers';
import {
  creditCalls,
  DispatcherRig,
  ledgerRowsOf,
  newAccountId,
  signed,
  startDispatcherRig,
} from '../../support/dispatcher-harness';
import { sleep, waitFor } from '../../support/wait';

/**
 * The dispatcher against the BSS simulator over HTTP, through the real pop-core client and a real
 * PostgreSQL: every provider outcome of docs/states.md ends in the state docs/states.md prescribes,
 * and the money moves exactly once at the provider and in our ledger.
 */

/** The trail of a recharge whose first call had an unknown outcome and whose re-send succeeded. */
const RESENT_THEN_SUCCEEDED = [
  [null, 'CREATED', 'api'],
  ['CREATED', 'SUBMITTED', 'dispatcher'],
  ['SUBMITTED', 'PENDING_CONFIRMATION', 'dispatcher'],
  ['PENDING_CONFIRMATION', 'SUCCEEDED', 'dispatcher'],
];
describe('dispatcher against the BSS simulator (issue 3)', () => {
  let rig: DispatcherRig | undefined;

  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  const post = (r: DispatcherRig, body: Record<string, unknown>, prefer?: string) => {
    const req = r.app.http.post('/v1/recharges').set('Authorization', r.auth).set('Idempotency-Key', newKey());
    if (prefer) req.set('Prefer', prefer);
    return req.send(body);
  };
  const get = (r: DispatcherRig, id: string) => r.app.http.get(`/v1/recharges/${id}`).set('Authorization', r.auth);
  const events = async (r: DispatcherRig, id: string) => {
    const res = await r.app.http.get(`/v1/recharges/${id}/events`).set('Authorization', r.auth);
    expect(res.status).toBe(200);
    return (res.body.data as Array<{ from: string | null; to: string; source: string; reason: string }>).map((e) => [
      e.from,
      e.to,
      e.source,
    ]);
  };
  const stateOf = async (r: DispatcherRig, id: string): Promise<string> => (await get(r, id)).body.state as string;
  const creditsFor = (r: DispatcherRig, id: string) => r.sim.credits().filter((c) => c.outBizId === id);

  /** The recharge is credited once in our books: two balanced rows, and the customer's balance equals the amount. */
  async function expectLedgeredOnce(r: DispatcherRig, id: string, accountId: string, amount: number, currency = 'CNY') {
    const rows = await ledgerRowsOf(r.databaseUrl, id);
    expect(rows).toEqual([
      {
        recharge_id: id,
        ledger_account: 'provider_clearing',
        account_id: null,
        direction: 'debit',
        amount: String(amount),
        currency,
      },
      {
        recharge_id: id,
        ledger_account: `customer:${accountId}`,
        account_id: accountId,
        direction: 'credit',
        amount: String(amount),
        currency,
      },
    ]);
    expect(rows.reduce((sum, row) => sum + signed(row), 0n)).toBe(0n);
    const balance = await r.app.http.get(`/v1/accounts/${accountId}/balance`).set('Authorization', r.auth);
    expect(balance.status).toBe(200);
    expect(balance.body).toEqual({ accountId, balances: [{ currency, amount }] });
  }

  /** The provider applied it exactly once, under OutBizId = the recharge id. */
  function expectProviderCreditedOnce(
    r: DispatcherRig,
    id: string,
    accountId: string,
    amount: number,
    currency = 'CNY',
  ) {
    expect(creditsFor(r, id)).toEqual([
      expect.objectContaining({
        outBizId: id,
        ownerId: accountId,
        adjustType: 'decrease',
        amountMinor: String(amount),
        currency,
        timesApplied: 1,
      }),
    ]);
    expect(r.sim.credits()).toHaveLength(1);
  }

  it('happy path: POST with Prefer: wait=5 answers SUCCEEDED; provider and ledger credited exactly once', async () => {
    rig = await startDispatcherRig();
    const accountId = newAccountId();

    const res = await post(rig, { accountId, amount: 4999, currency: 'CNY' }, 'wait=5');

    expect(res.status).toBe(202);
    expect(res.headers['preference-applied']).toBe('wait=5');
    expect(res.body).toMatchObject({
      state: 'SUCCEEDED',
      status: 'succeeded',
      accountId,
      amount: 4999,
      currency: 'CNY',
      failure: null,
    });
    expect(res.body.providerReference).toEqual(expect.any(String));
    const id = res.body.id as string;
    expect(await events(rig, id)).toEqual([
      [null, 'CREATED', 'api'],
      ['CREATED', 'SUBMITTED', 'dispatcher'],
      ['SUBMITTED', 'SUCCEEDED', 'dispatcher'],
    ]);
    await expectLedgeredOnce(rig, id, accountId, 4999);
    expectProviderCreditedOnce(rig, id, accountId, 4999);
    expect(creditCalls(rig.sim)).toBe(1);
    expect(rig.sim.account(accountId)).toMatchObject({ consumed: '-49.99', available: '49.99', currency: 'CNY' });
  });

  it('throttled twice, then succeeded: three calls under the same OutBizId, one credit', async () => {
    rig = await startDispatcherRig();
    rig.sim.addFaults([{ fault: 'throttle', count: 2 }]);
    const accountId = newAccountId();

    const res = await post(rig, { accountId, amount: 1000, currency: 'USD' }, 'wait=10');

    expect(res.body).toMatchObject({ state: 'SUCCEEDED', failure: null });
    const id = res.body.id as string;
    expect(creditCalls(rig.sim)).toBe(3);
    expect(rig.sim.stats().outcomesByAction.ChangeResellerConsumeAmount).toEqual({ 'Throttling.User': 2, success: 1 });
    // Retries of a retryable error are not state changes.
    expect(await events(rig, id)).toEqual([
      [null, 'CREATED', 'api'],
      ['CREATED', 'SUBMITTED', 'dispatcher'],
      ['SUBMITTED', 'SUCCEEDED', 'dispatcher'],
    ]);
    const [row] = await query<{ attempts: number }>(rig.databaseUrl, 'SELECT attempts FROM recharges WHERE id = $1', [
      id,
    ]);
    expect(row.attempts).toBe(2);
    expectProviderCreditedOnce(rig, id, accountId, 1000, 'USD');
    await expectLedgeredOnce(rig, id, accountId, 1000, 'USD');
  });

  it('definitive rejection (NotAuthorized): FAILED with the provider code after exactly one call, nothing ledgered', async () => {
    rig = await startDispatcherRig();
    // Permanent, so any retry would show up as a second call.
    rig.sim.addFaults([{ fault: 'notAuthorized' }]);
    const accountId = newAccountId();

    const res = await post(rig, { accountId, amount: 250, currency: 'CNY' }, 'wait=5');

    expect(res.body).toMatchObject({
      state: 'FAILED',
      status: 'failed',
      failure: { code: 'PROVIDER_REJECTED', providerCode: 'NotAuthorized', message: expect.any(String) },
    });
    const id = res.body.id as string;
    // An extra second: a retry storm, a re-send after RECONCILE_AFTER_MS (300 ms) or a poll would all show here.
    await sleep(1000);
    expect(creditCalls(rig.sim)).toBe(1);
    expect(rig.sim.stats().outcomesByAction.ChangeResellerConsumeAmount).toEqual({ NotAuthorized: 1 });
    expect(await stateOf(rig, id)).toBe('FAILED');
    expect(await events(rig, id)).toEqual([
      [null, 'CREATED', 'api'],
      ['CREATED', 'SUBMITTED', 'dispatcher'],
      ['SUBMITTED', 'FAILED', 'dispatcher'],
    ]);
    expect(await ledgerRowsOf(rig.databaseUrl, id)).toEqual([]);
    expect(await query(rig.databaseUrl, 'SELECT * FROM balances')).toEqual([]);
    expect(rig.sim.credits()).toEqual([]);
  });

  it('apply-then-drop: the re-send under the same OutBizId is a replay; SUCCEEDED, credited once', async () => {
    rig = await startDispatcherRig({}, { RECONCILE_AFTER_MS: '300' });
    rig.sim.addFaults([{ fault: 'applyThenDrop', count: 1 }]);
    const accountId = newAccountId();

    const res = await post(rig, { accountId, amount: 4999, currency: 'JPY' }, 'wait=10');

    expect(res.body).toMatchObject({ state: 'SUCCEEDED', failure: null });
    const id = res.body.id as string;
    expect(await events(rig, id)).toEqual(RESENT_THEN_SUCCEEDED);
    expect(creditCalls(rig.sim)).toBe(2);
    expect(rig.sim.stats().outcomesByAction.ChangeResellerConsumeAmount).toEqual({ dropped: 1, replayed: 1 });
    expectProviderCreditedOnce(rig, id, accountId, 4999, 'JPY');
    expect(rig.sim.account(accountId)).toMatchObject({ consumed: '-4999', currency: 'JPY' });
    await expectLedgeredOnce(rig, id, accountId, 4999, 'JPY');
  });

  it('a call delayed past PROVIDER_TIMEOUT_MS: PENDING_CONFIRMATION, then SUCCEEDED after the re-send; credited once', async () => {
    rig = await startDispatcherRig({}, { PROVIDER_TIMEOUT_MS: '300', RECONCILE_AFTER_MS: '300' });
    rig.sim.addFaults([{ fault: 'delay', delayMs: 800, count: 1 }]);
    const accountId = newAccountId();

    const created = await post(rig, { accountId, amount: 777, currency: 'CNY' });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    const seen = new Set<string>();
    await waitFor(
      async () => {
        seen.add(await stateOf(rig!, id));
        return seen.has('SUCCEEDED') || seen.has('FAILED');
      },
      10_000,
      'a final state',
      10,
    );
    // Observed through the API while it waited for the re-send (the events below prove it regardless of polling luck).
    expect(seen.has('PENDING_CONFIRMATION')).toBe(true);
    expect(await stateOf(rig, id)).toBe('SUCCEEDED');
    expect(await events(rig, id)).toEqual(RESENT_THEN_SUCCEEDED);
    expect(creditCalls(rig.sim)).toBe(2);
    // The delayed call still applies when its wait ends: as a replay, whichever of the two came first.
    await waitFor(
      () => (rig!.sim.stats().outcomes.success ?? 0) + (rig!.sim.stats().outcomes.replayed ?? 0) === 2,
      3000,
      'the delayed call to finish',
    );
    expect(rig.sim.stats().outcomesByAction.ChangeResellerConsumeAmount).toEqual({ success: 1, replayed: 1 });
    expectProviderCreditedOnce(rig, id, accountId, 777);
    await expectLedgeredOnce(rig, id, accountId, 777);
  });

  it('no confirmation within CONFIRMATION_WINDOW_MS: FAILED with TIMEOUT, and never re-sent after that', async () => {
    rig = await startDispatcherRig(
      {},
      { PROVIDER_TIMEOUT_MS: '300', RECONCILE_AFTER_MS: '300', CONFIRMATION_WINDOW_MS: '1500' },
    );
    // Holds every call far beyond the client timeout; the simulator abandons them (unapplied) on close.
    rig.sim.addFaults([{ fault: 'delay', delayMs: 60_000 }]);
    const accountId = newAccountId();

    const created = await post(rig, { accountId, amount: 500, currency: 'CNY' });
    const id = created.body.id as string;
    const started = Date.now();
    const failed = await waitFor(
      async () => {
        const body = (await get(rig!, id)).body;
        return body.state === 'FAILED' ? body : null;
      },
      8000,
      'FAILED',
    );
    const elapsed = Date.now() - started;

    expect(failed.failure).toEqual({ code: 'TIMEOUT', providerCode: null, message: expect.any(String) });
    expect(elapsed).toBeGreaterThanOrEqual(1500 - 50);
    expect(await events(rig, id)).toEqual([
      [null, 'CREATED', 'api'],
      ['CREATED', 'SUBMITTED', 'dispatcher'],
      ['SUBMITTED', 'PENDING_CONFIRMATION', 'dispatcher'],
      ['PENDING_CONFIRMATION', 'FAILED', 'dispatcher'],
    ]);
    const [row] = await query<{
      attempts: number;
      next_attempt_at: Date | null;
      submitted_at: Date;
      completed_at: Date;
    }>(rig.databaseUrl, 'SELECT attempts, next_attempt_at, submitted_at, completed_at FROM recharges WHERE id = $1', [
      id,
    ]);
    expect(row.next_attempt_at).toBeNull();
    // The window counts from the first send.
    expect(row.completed_at.getTime() - row.submitted_at.getTime()).toBeGreaterThanOrEqual(1500);
    // Every call timed out and was counted as one attempt: first send plus re-sends every ~300 ms + poll.
    const callsAtFailure = creditCalls(rig.sim);
    expect(callsAtFailure).toBe(row.attempts);
    expect(callsAtFailure).toBeGreaterThanOrEqual(2);
    expect(callsAtFailure).toBeLessThanOrEqual(4);

    // A healthy provider now: a re-send would succeed and show up as a call and a credit. None may come.
    rig.sim.clearFaults();
    await sleep(1200);
    expect(creditCalls(rig.sim)).toBe(callsAtFailure);
    expect(await stateOf(rig, id)).toBe('FAILED');
    expect(rig.sim.credits()).toEqual([]);
    expect(await ledgerRowsOf(rig.databaseUrl, id)).toEqual([]);
  });
});
