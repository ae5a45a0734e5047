import { BssSimulatorOptions } from '../../../libs/bss-simulator';
import { query } from '../../support/database';
import {
  creditCalls,
  DispatcherRig,
  ledgerRowsOf,
  newAccountId,
  startDispatcherRig,
} from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';
import { newKey } from '../../support/e2e-helpers';

/**
 * Alibaba documents OutBizId as the idempotency key but not what a repeat of an applied one
 * answers, so the service must be right under every plausible answer. Each case applies the first
 * send and drops its answer (the outcome is unknown), then answers the re-send one way, through
 * the real pop-core client, the dispatcher and PostgreSQL. The chaos suite meets these answers at
 * random; this spec meets each one deterministically.
 */
describe('a re-send of an applied OutBizId, whatever the provider answers (real PostgreSQL + simulator)', () => {
  let rig: DispatcherRig | undefined;

  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  type Repeat = NonNullable<BssSimulatorOptions['faults']>[number];
  it.each<[string, Repeat, string, string[]]>([
    ['the first result again', { fault: 'repeatOutBizId', answer: 'first' }, 'replayed', []],
    ['a success with a fresh Data', { fault: 'repeatOutBizId', answer: 'fresh' }, 'replayed_fresh', []],
    [
      '-303 (the record exists)',
      { fault: 'repeatOutBizId', answer: 'error', code: '-303' },
      '-303',
      ['out_biz_id_conflict'],
    ],
    [
      'IdempotentParameterMismatch',
      { fault: 'repeatOutBizId', answer: 'error', code: 'IdempotentParameterMismatch' },
      'IdempotentParameterMismatch',
      ['out_biz_id_conflict'],
    ],
    [
      'a rejection after the lost answer (NotAuthorized)',
      { fault: 'reject', code: 'NotAuthorized', repeat: true },
      'NotAuthorized',
      [],
    ],
  ])(
    '%s → never FAILED, credited once, SUCCEEDED once a re-send confirms it',
    async (_name, repeat, answered, kinds) => {
      const accountId = newAccountId();
      rig = await startDispatcherRig({
        faults: [
          { fault: 'applyThenDrop', ownerId: accountId, count: 1 },
          { ...repeat, ownerId: accountId, count: 1 },
        ],
      });
      const created = await rig.app.http
        .post('/v1/recharges')
        .set('Authorization', rig.auth)
        .set('Idempotency-Key', newKey())
        .send({ accountId, amount: 4999, currency: 'CNY' });
      expect(created.status).toBe(202);
      const id = created.body.id as string;

      const states: string[] = [];
      await waitFor(
        async () => {
          const state = (await rig!.app.http.get(`/v1/recharges/${id}`).set('Authorization', rig!.auth)).body.state;
          if (states.at(-1) !== state) states.push(state);
          return state === 'SUCCEEDED';
        },
        30_000,
        'a re-send to confirm the credit',
      );
      expect(states).not.toContain('FAILED');
      expect(rig.sim.stats().outcomesByAction.ChangeResellerConsumeAmount).toMatchObject({ [answered]: 1 });
      const applied = rig.sim.credits().filter((c) => c.outBizId === id);
      expect(applied).toHaveLength(1);
      expect(applied[0]!.timesApplied).toBe(1);
      expect(creditCalls(rig.sim)).toBeGreaterThanOrEqual(2);
      expect(await ledgerRowsOf(rig.databaseUrl, id)).toHaveLength(2);
      const discrepancies = await query<{ kind: string }>(
        rig.databaseUrl,
        'SELECT kind FROM discrepancies WHERE recharge_id = $1',
        [id],
      );
      expect(discrepancies.map((d) => d.kind)).toEqual(kinds);
    },
  );
});
