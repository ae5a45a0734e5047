import { createBssSimulator, BssSimulator } from '../../../libs/bss-simulator';
import { SystemClock } from '../../../libs/shared/clock';
import {
  DispatchRechargeUseCase,
  DispatchSettings,
} from '../../../src/recharge/application/dispatch-recharge.use-case';
import { ReconcileUseCase } from '../../../src/recharge/application/reconcile.use-case';
import { ProviderOutcome } from '../../../src/recharge/application/ports/recharge-provider';
import { RechargeRepository } from '../../../src/recharge/application/ports/recharge.repository';
import { DiscrepancyRepository } from '../../../src/recharge/application/ports/discrepancy.repository';
import { metricValue } from '../../support/confirmations';
import { createTestDatabase, query } from '../../support/database';
import {
  creditCalls,
  DispatcherRig,
  dispatcherEnv,
  ledgerRowsOf,
  newAccountId,
  startDispatcherRig,
  startTestAppOn,
} from '../../support/dispatcher-harness';
import { sleep, waitFor } from '../../support/wait';
import { newKey } from '../../support/e2e-helpers';
import { outcomes, ScriptedRechargeProvider } from '../../support/fakes/scripted-recharge.provider';
import { TestApp } from '../../support/test-app';

/**
 * Issue 11 on the real PostgreSQL: what the database and the provider protocol decide. The
 * outcome matrix itself is a unit spec (dispatch-recharge.use-case.spec.ts).
 */
describe('unknown stays unknown (issue 11, real PostgreSQL)', () => {
  describe('against the BSS simulator through pop-core', () => {
    let rig: DispatcherRig | undefined;

    afterEach(async () => {
      await rig?.close();
      rig = undefined;
    });

    const post = (r: DispatcherRig, body: Record<string, unknown>) =>
      r.app.http.post('/v1/recharges').set('Authorization', r.auth).set('Idempotency-Key', newKey()).send(body);
    const trail = async (r: DispatcherRig, id: string) =>
      (
        await query<{ from_state: string | null; to_state: string }>(
          r.databaseUrl,
          'SELECT from_state, to_state FROM recharge_events WHERE recharge_id = $1 ORDER BY id',
          [id],
        )
      ).map((e) => `${e.from_state ?? 'new'}→${e.to_state}`);

    it('item 1: applied-then-dropped first send, re-send answered NotAuthorized → never FAILED; the next re-send proves success, credited once', async () => {
      const accountId = newAccountId();
      rig = await startDispatcherRig({
        faults: [
          { fault: 'applyThenDrop', ownerId: accountId, count: 1 },
          { fault: 'notAuthorized', ownerId: accountId, count: 1 },
        ],
      });
      const created = await post(rig, { accountId, amount: 4999, currency: 'CNY' });
      expect(created.status).toBe(202);
      const id = created.body.id as string;

      await waitFor(
        async () =>
          (await rig!.app.http.get(`/v1/recharges/${id}`).set('Authorization', rig!.auth)).body.state === 'SUCCEEDED',
        20_000,
        'the recharge to be confirmed by a re-send',
      );

      expect(await trail(rig, id)).toEqual([
        'new→CREATED',
        'CREATED→SUBMITTED',
        'SUBMITTED→PENDING_CONFIRMATION',
        'PENDING_CONFIRMATION→SUCCEEDED',
      ]);
      expect(rig.sim.credits().filter((c) => c.outBizId === id)).toHaveLength(1);
      expect(creditCalls(rig.sim)).toBe(3);
      expect(await ledgerRowsOf(rig.databaseUrl, id)).toHaveLength(2);

      // Every call is in the provider call log, with the provider's RequestId when it answered.
      const calls = await query<{
        attempt: number;
        outcome: string;
        provider_code: string | null;
        http_status: number | null;
        request_id: string | null;
      }>(
        rig.databaseUrl,
        `SELECT attempt, outcome, provider_code, http_status, request_id FROM provider_calls WHERE recharge_id = $1 ORDER BY id`,
        [id],
      );
      expect(calls).toEqual([
        { attempt: 1, outcome: 'unknown', provider_code: null, http_status: null, request_id: null },
        {
          attempt: 2,
          outcome: 'rejected',
          provider_code: 'NotAuthorized',
          http_status: expect.any(Number),
          request_id: expect.any(String),
        },
        { attempt: 3, outcome: 'succeeded', provider_code: null, http_status: 200, request_id: expect.any(String) },
      ]);
      // The parameters of the first send were stored and reused.
      const [row] = await query<{ credit_parameters: Record<string, string>; sends: number }>(
        rig.databaseUrl,
        'SELECT credit_parameters, sends FROM recharges WHERE id = $1',
        [id],
      );
      expect(row).toEqual({
        credit_parameters: {
          ownerId: accountId,
          amount: '49.99',
          currency: 'CNY',
          businessType: 'quota_amount_adjust',
          source: 'alicloud-recharge',
        },
        sends: 3,
      });
    });

    it('provider_calls is append-only: UPDATE, DELETE and TRUNCATE are refused', async () => {
      rig = await startDispatcherRig();
      const created = await post(rig, { accountId: newAccountId(), amount: 100, currency: 'CNY' });
      await waitFor(
        async () =>
          (await query(rig!.databaseUrl, 'SELECT 1 FROM provider_calls WHERE recharge_id = $1', [created.body.id]))
            .length,
        10_000,
        'a provider call row',
      );
      for (const statement of [
        "UPDATE provider_calls SET outcome = 'succeeded'",
        'DELETE FROM provider_calls',
        'TRUNCATE provider_calls',
      ]) {
        await expect(query(rig.databaseUrl, statement)).rejects.toThrow(/append-only/);
      }
    });
  });

  describe('two dispatch use cases (replicas) on one database', () => {
    let sim: BssSimulator;
    let app: TestApp;
    let auth: string;

    beforeAll(async () => {
      sim = await createBssSimulator({ port: 0 });
      app = await startTestAppOn(
        await createTestDatabase(),
        dispatcherEnv(sim, { DISPATCHER_ENABLED: 'false', CONFIRMATION_WINDOW_MS: '1000' }),
      );
      auth = `Bearer ${(await app.createClient(['*'])).apiKey}`;
    });

    afterAll(async () => {
      await app?.close();
      await sim?.close();
    });

    const settings = (leaseMs: number): DispatchSettings => ({
      leaseMs,
      reconcileAfterMs: 60_000,
      confirmationWindowMs: 1_000,
      maxQuickRetries: 6,
      retryBaseMs: 250,
      retryMaxMs: 15_000,
      creditDefaults: { businessType: 'quota_amount_adjust', source: 'alicloud-recharge' },
    });
    const replica = (provider: ScriptedRechargeProvider, leaseMs: number) =>
      new DispatchRechargeUseCase(app.app.get(RechargeRepository), provider, settings(leaseMs), new SystemClock());
    const create = async () => {
      const res = await app.http
        .post('/v1/recharges')
        .set('Authorization', auth)
        .set('Idempotency-Key', newKey())
        .send({ accountId: newAccountId(), amount: 700, currency: 'CNY' });
      expect(res.status).toBe(202);
      return res.body.id as string;
    };
    const slowly = (ms: number, outcome: ProviderOutcome) => async (): Promise<ProviderOutcome> => {
      await sleep(ms);
      return outcome;
    };
    const metric = async (kind: string): Promise<number> =>
      metricValue((await app.http.get('/metrics')).text, 'recharge_discrepancies_total', { kind });
    const stateOf = async (id: string) =>
      (
        await query<{ state: string; failure_code: string | null; lease_owner: string | null }>(
          app.databaseUrl,
          'SELECT state, failure_code, lease_owner FROM recharges WHERE id = $1',
          [id],
        )
      )[0];

    it('item 4: a claim waiting (send permit + call) ten times its lease is renewed: the other replica never claims it, one send', async () => {
      const id = await create();
      const providerA = new ScriptedRechargeProvider().answer(slowly(2_000, outcomes.succeeded()));
      const providerB = new ScriptedRechargeProvider().answer(outcomes.succeeded(), outcomes.succeeded());
      const a = replica(providerA, 200);
      const b = replica(providerB, 200);

      const [claim] = await a.claimDue(1);
      expect(claim.id).toBe(id);
      const work = a.process(claim);
      const stolen: string[] = [];
      const deadline = Date.now() + 1_800;
      while (Date.now() < deadline) {
        for (const c of await b.claimDue(5)) {
          stolen.push(c.id);
          await b.process(c);
        }
        await sleep(50);
      }
      await work;

      expect(stolen).toEqual([]);
      expect(providerA.requests).toHaveLength(1);
      expect(providerB.requests).toHaveLength(0);
      expect(await stateOf(id)).toEqual({ state: 'SUCCEEDED', failure_code: null, lease_owner: null });
    });

    it('item 2: a success answered after a Canceled notification landed during the call → CANCELED kept, success_after_cancel stored in the same transaction, counted, acknowledgeable', async () => {
      const id = await create();
      const repo = app.app.get(RechargeRepository);
      const provider = new ScriptedRechargeProvider().answer(async () => {
        // The provider's Canceled notification is applied while our call is out.
        await repo.mutate(id, (r) =>
          r.cancel('provider reported the recharge canceled (webhook)', 'webhook', new Date()),
        );
        return outcomes.succeeded('REQ-AFTER-CANCEL');
      });
      const before = await metric('success_after_cancel');
      const [claim] = await replica(provider, 5_000).claimDue(1);
      await replica(provider, 5_000).process(claim);

      expect(await stateOf(id)).toEqual({ state: 'CANCELED', failure_code: 'CANCELED', lease_owner: null });
      expect(await ledgerRowsOf(app.databaseUrl, id)).toEqual([]);
      const discrepancies = app.app.get(DiscrepancyRepository);
      const { data } = await discrepancies.list({ rechargeId: id, status: 'open', limit: 10 });
      expect(data).toEqual([
        {
          id: expect.stringMatching(/^dsc_[0-9a-f]{32}$/),
          rechargeId: id,
          kind: 'success_after_cancel',
          evidence: expect.objectContaining({ providerReference: 'REQ-AFTER-CANCEL', state: 'CANCELED', attempt: 1 }),
          seenAt: expect.any(Date),
          acknowledgedBy: null,
          acknowledgedAt: null,
          acknowledgementNote: null,
        },
      ]);
      expect(await metric('success_after_cancel')).toBe(before + 1);

      const acknowledged = await discrepancies.acknowledge(data[0].id, 'op_1', 'refunded at the provider', new Date());
      expect(acknowledged).toMatchObject({ acknowledgedBy: 'op_1', acknowledgementNote: 'refunded at the provider' });
      // Acknowledging again changes nothing.
      const again = await discrepancies.acknowledge(data[0].id, 'op_2', 'other', new Date());
      expect(again).toMatchObject({ acknowledgedBy: 'op_1', acknowledgementNote: 'refunded at the provider' });
      expect((await discrepancies.list({ rechargeId: id, status: 'open', limit: 10 })).data).toEqual([]);
      expect((await discrepancies.list({ rechargeId: id, status: 'acknowledged', limit: 10 })).data).toHaveLength(1);
    });

    it('item 3: reconciliation does not expire a recharge whose call is in flight past the confirmation window; the answer settles it', async () => {
      const id = await create();
      const provider = new ScriptedRechargeProvider().answer(slowly(2_500, outcomes.succeeded('REQ-LATE')));
      const a = replica(provider, 300);
      const [claim] = await a.claimDue(1);
      const work = a.process(claim);
      // The window (1 s) passes while the call is out; reconciliation runs on another replica.
      await sleep(1_500);
      const report = await app.app.get(ReconcileUseCase).runOnce();
      expect(report).toMatchObject({ outcome: 'succeeded', expired: 0 });
      expect(await stateOf(id)).toMatchObject({ state: 'SUBMITTED', lease_owner: claim.leaseOwner });
      await work;

      expect(await stateOf(id)).toEqual({ state: 'SUCCEEDED', failure_code: null, lease_owner: null });
      const trail = await query<{ to_state: string; correction: boolean }>(
        app.databaseUrl,
        'SELECT to_state, correction FROM recharge_events WHERE recharge_id = $1 ORDER BY id',
        [id],
      );
      expect(trail.map((e) => e.to_state)).toEqual(['CREATED', 'SUBMITTED', 'SUCCEEDED']);
    });

    it('item 3: once the lease has lapsed (the replica is gone), reconciliation expires it to FAILED/TIMEOUT', async () => {
      const id = await create();
      const provider = new ScriptedRechargeProvider().answer(() => new Promise<ProviderOutcome>(() => undefined));
      const a = replica(provider, 300);
      const [claim] = await a.claimDue(1);
      // process() never finishes: stands for a replica that died mid-call (its renewals stop below).
      const stop = jest.spyOn(app.app.get(RechargeRepository), 'renewLease').mockResolvedValue(false);
      void a.process(claim);
      await sleep(1_500);
      stop.mockRestore();
      expect(await app.app.get(ReconcileUseCase).runOnce()).toMatchObject({ outcome: 'succeeded', expired: 1 });
      expect(await stateOf(id)).toMatchObject({ state: 'FAILED', failure_code: 'TIMEOUT' });
    });
  });
});
