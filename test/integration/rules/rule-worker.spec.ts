import { Logger } from '@nestjs/common';
import { query } from '../../support/database';
import { DispatcherRig, newAccountId, startDispatcherRig } from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';

/** RULES_ENABLED: the replica's own loop evaluates a new rule at once and its top-up goes all the way. */
describe('rule evaluation worker (issue 15)', () => {
  let rig: DispatcherRig;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    rig = await startDispatcherRig({}, { RULES_ENABLED: 'true' });
  });

  afterAll(() => rig?.close());

  it('a new rule is evaluated at once; the account is topped up to the target exactly once', async () => {
    const accountId = newAccountId();
    rig.sim.setAccount(accountId, { quota: '12.34', consumed: '0' });
    const res = await rig.app.http
      .post('/v1/rules')
      .set('Authorization', rig.auth)
      .send({
        accountId,
        currency: 'CNY',
        trigger: { type: 'threshold', below: 50000 },
        topUp: { type: 'target', amount: 200000 },
      })
      .expect(201);
    await waitFor(() => rig.sim.account(accountId)?.available === '2000.00', 15_000, 'the top-up at the provider');
    // The provider answers before the dispatcher commits SUCCEEDED: wait for the commit too.
    const ofRule = () =>
      query(rig.databaseUrl, `SELECT amount, state FROM recharges WHERE metadata->>'ruleId' = $1`, [res.body.id]);
    await waitFor(
      async () => (await ofRule()).every((r) => r.state === 'SUCCEEDED'),
      15_000,
      'the top-up committed as SUCCEEDED',
    );
    expect(await ofRule()).toEqual([{ amount: '198766', state: 'SUCCEEDED' }]);
    const evaluations = (
      await rig.app.http.get(`/v1/rules/${res.body.id}/evaluations`).set('Authorization', rig.auth).expect(200)
    ).body.data;
    expect(evaluations.at(-1)).toMatchObject({ decision: 'topped_up', quota: 1234, rechargeId: expect.any(String) });
  });
});
