import RPCClient from '@alicloud/pop-core';
import { types } from 'node:util';
import request from 'supertest';
import { BssSimulator, BssSimulatorOptions, createBssSimulator, DEFAULT_CREDENTIAL } from './bss-simulator';
import { signRpcParams } from './rpc-signature';
import { waitFor } from '../../test/support/wait';

/** These specs drive the simulator with the real, unmodified pop-core client over HTTP. */

const OWNER = '1234567890123456';
const POST = { method: 'POST' };
let outBizSeq = 0;

function popClient(simulator: BssSimulator, credential = DEFAULT_CREDENTIAL): RPCClient {
  return new RPCClient({
    endpoint: simulator.url,
    apiVersion: '2017-12-14',
    accessKeyId: credential.accessKeyId,
    accessKeySecret: credential.accessKeySecret,
  });
}

function topUp(overrides: Record<string, string> = {}): Record<string, string> {
  outBizSeq += 1;
  return {
    OwnerId: OWNER,
    AdjustType: 'decrease',
    Amount: '49.99',
    Currency: 'CNY',
    BusinessType: 'quota_amount_adjust',
    Source: 'alicloud-recharge',
    OutBizId: `rch_spec_${outBizSeq}`,
    ...overrides,
  };
}

type BssResponse = { Code: string; Message: string; RequestId: string; Success: boolean; Data: any };

/** pop-core rejects with an Error carrying `code`, `data` and `entry`, or (for non-JSON bodies) a plain object. */
async function failureOf(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

async function withSimulator(options: BssSimulatorOptions, run: (sim: BssSimulator) => Promise<void>): Promise<void> {
  const sim = await createBssSimulator({ port: 0, ...options });
  try {
    await run(sim);
  } finally {
    await sim.close();
  }
}

describe('BSS simulator with the real pop-core client', () => {
  let sim: BssSimulator;
  let client: RPCClient;
  const call = (action: string, params: object, opts: object = POST) =>
    client.request<BssResponse>(action, params, opts);

  beforeAll(async () => {
    // Flow control is covered by its own simulators below; here it must never get in the way.
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 0 });
    client = popClient(sim);
  });
  afterAll(() => sim.close());
  afterEach(() => sim.clearFaults());

  describe('gateway', () => {
    it('accepts a POST ChangeResellerConsumeAmount and raises the available quota', async () => {
      sim.setAccount(OWNER, { quota: '100.00', consumed: '0' });
      const response = await call('ChangeResellerConsumeAmount', topUp());
      expect(response).toEqual({
        Code: '200',
        Message: 'Successful!',
        RequestId: expect.any(String),
        Success: true,
        Data: '-49.99',
      });
      const available = await call('QueryResellerAvailableQuota', { OwnerId: OWNER });
      expect(available.Data).toBe('149.99');
      expect(sim.account(OWNER)).toMatchObject({
        quota: '100.00',
        consumed: '-49.99',
        available: '149.99',
        currency: 'CNY',
      });
    });

    it('accepts GET, and POST with everything in the query (pop-core lowercase "post")', async () => {
      const owner = '5000000000000001';
      await call('ChangeResellerConsumeAmount', topUp({ OwnerId: owner, Amount: '1.00' }), {});
      await call('ChangeResellerConsumeAmount', topUp({ OwnerId: owner, Amount: '2.00' }), { method: 'post' });
      expect((await call('QueryResellerAvailableQuota', { OwnerId: owner }, {})).Data).toBe('3.00');
    });

    it('merges query and form-body parameters before verifying the signature', async () => {
      const params: Record<string, string> = {
        Action: 'QueryAccountBalance',
        Version: '2017-12-14',
        Format: 'JSON',
        AccessKeyId: DEFAULT_CREDENTIAL.accessKeyId,
        SignatureMethod: 'HMAC-SHA1',
        SignatureVersion: '1.0',
        SignatureNonce: `split-${Date.now()}`,
        Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      const Signature = signRpcParams('POST', params, DEFAULT_CREDENTIAL.accessKeySecret);
      const { Action, Version, ...bodyParams } = params;
      const response = await request(sim.url)
        .post(`/?${new URLSearchParams({ Action: Action!, Version: Version!, Signature })}`)
        .type('form')
        .send(new URLSearchParams(bodyParams).toString());
      expect(response.status).toBe(200);
      expect(response.body.Data).toMatchObject({ AvailableAmount: '1000000.00', Currency: 'CNY' });
    });

    it('rejects a wrong secret with SignatureDoesNotMatch and shows its string to sign', async () => {
      const wrong = popClient(sim, { accessKeyId: DEFAULT_CREDENTIAL.accessKeyId, accessKeySecret: 'not-the-secret' });
      const err = await failureOf(wrong.request('QueryResellerAvailableQuota', { OwnerId: OWNER }, POST));
      expect(err.code).toBe('SignatureDoesNotMatch');
      expect(err.data.Message).toMatch(
        /^Specified signature is not matched with our calculation\. server string to sign is:POST&%2F&AccessKeyId%3D/,
      );
      expect(err.entry.response.statusCode).toBe(400);
      expect(err.entry.response.headers['content-type']).toBe('application/json;charset=utf-8');
      expect(err.entry.response.headers['x-acs-request-id']).toBe(err.data.RequestId);
      expect(Object.keys(err.data)).toEqual(['RequestId', 'HostId', 'Code', 'Message', 'Recommend']);
      expect(err.data.HostId).toBe('business.aliyuncs.com');
    });

    it('signs over the actual HTTP method: a GET signed as POST fails', async () => {
      const params = {
        Action: 'QueryAccountBalance',
        Version: '2017-12-14',
        AccessKeyId: DEFAULT_CREDENTIAL.accessKeyId,
        SignatureMethod: 'HMAC-SHA1',
        SignatureVersion: '1.0',
        SignatureNonce: `method-${Date.now()}`,
        Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      const Signature = signRpcParams('POST', params, DEFAULT_CREDENTIAL.accessKeySecret);
      const response = await request(sim.url).get(`/?${new URLSearchParams({ ...params, Signature })}`);
      expect(response.body.Code).toBe('SignatureDoesNotMatch');
      expect(response.body.Message).toContain('server string to sign is:GET&%2F&');
    });

    it('rejects an unknown AccessKeyId with 404 InvalidAccessKeyId.NotFound', async () => {
      const stranger = popClient(sim, { accessKeyId: 'who-is-this', accessKeySecret: 'x' });
      const err = await failureOf(stranger.request('QueryAccountBalance', {}, POST));
      expect(err.code).toBe('InvalidAccessKeyId.NotFound');
      expect(err.entry.response.statusCode).toBe(404);
    });

    it('rejects a stale Timestamp with InvalidTimeStamp.Expired', async () => {
      const err = await failureOf(call('QueryAccountBalance', { Timestamp: '2020-01-01T00:00:00Z' }));
      expect(err.code).toBe('InvalidTimeStamp.Expired');
      expect(err.data.Message).toBe('Specified time stamp or date value is expired.');
    });

    it('rejects a reused SignatureNonce with SignatureNonceUsed', async () => {
      const nonce = `nonce-${Date.now()}`;
      await call('QueryAccountBalance', { SignatureNonce: nonce });
      const err = await failureOf(call('QueryAccountBalance', { SignatureNonce: nonce }));
      expect(err.code).toBe('SignatureNonceUsed');
    });

    it('rejects an unknown Action or Version with 404 InvalidAction.NotFound', async () => {
      const err = await failureOf(call('DescribeRegions', {}));
      expect(err.code).toBe('InvalidAction.NotFound');
      expect(err.entry.response.statusCode).toBe(404);
      const oldVersion = new RPCClient({ ...DEFAULT_CREDENTIAL, endpoint: sim.url, apiVersion: '2014-07-14' });
      expect((await failureOf(oldVersion.request('QueryAccountBalance', {}, POST))).code).toBe(
        'InvalidAction.NotFound',
      );
    });

    it('names the first missing common parameter', async () => {
      const response = await request(sim.url).get('/?Action=QueryAccountBalance&Version=2017-12-14');
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({
        Code: 'MissingParameter',
        Message: 'The input parameter "AccessKeyId" that is mandatory for processing this request is not supplied.',
      });
    });

    it('adds latencyMs to every answer', async () => {
      await withSimulator({ latencyMs: 80 }, async (slow) => {
        const started = Date.now();
        await popClient(slow).request('QueryAccountBalance', {}, POST);
        expect(Date.now() - started).toBeGreaterThanOrEqual(75);
      });
    });
  });

  describe('flow control', () => {
    it('answers Throttling.User (HTTP 400 by default) beyond 10 calls per second per Action', async () => {
      await withSimulator({ accounts: [{ ownerId: OWNER, quota: '1' }] }, async (limited) => {
        const pop = popClient(limited);
        const results = await Promise.allSettled(
          Array.from({ length: 12 }, () => pop.request('QueryAccountBalance', {}, POST)),
        );
        const throttled = results
          .filter((r) => r.status === 'rejected')
          .map((r) => (r as PromiseRejectedResult).reason);
        expect(throttled).toHaveLength(2);
        expect(throttled[0].code).toBe('Throttling.User');
        expect(throttled[0].data.Message).toBe('Request was denied due to user flow control.');
        expect(throttled[0].entry.response.statusCode).toBe(400);
        expect(throttled[0].entry.response.headers['x-acs-retry-after']).toBeUndefined();
        // Another Action has its own quota.
        await pop.request('QueryResellerAvailableQuota', { OwnerId: OWNER }, POST);
        expect(limited.stats().maxRequestsPerSecondAllActions).toBe(13);
      });
    });

    it('takes per-Action rates, a configurable status and an optional x-acs-retry-after', async () => {
      const options = {
        rateLimitPerSecond: { ChangeResellerConsumeAmount: 3 },
        throttleHttpStatus: 429,
        throttleRetryAfterHeader: true,
      };
      await withSimulator(options, async (limited) => {
        const pop = popClient(limited);
        const results = await Promise.allSettled(
          Array.from({ length: 5 }, () => pop.request('ChangeResellerConsumeAmount', topUp(), POST)),
        );
        const throttled = results
          .filter((r) => r.status === 'rejected')
          .map((r) => (r as PromiseRejectedResult).reason);
        expect(throttled.map((e) => e.code)).toEqual(['Throttling.User', 'Throttling.User']);
        expect(throttled[0].entry.response.statusCode).toBe(429);
        expect(Number(throttled[0].entry.response.headers['x-acs-retry-after'])).toBeGreaterThan(0);
        expect(limited.credits()).toHaveLength(3);
        expect(limited.stats()).toMatchObject({
          requests: { ChangeResellerConsumeAmount: 5 },
          outcomes: { success: 3, 'Throttling.User': 2 },
          maxRequestsPerSecond: 5,
          maxRequestsPerCalendarSecond: expect.any(Number),
        });
      });
    });
  });

  describe('ChangeResellerConsumeAmount', () => {
    it('replays the first result for a repeated OutBizId and applies it once', async () => {
      const owner = '5000000000000002';
      const params = topUp({ OwnerId: owner, Amount: '10.00' });
      const first = await call('ChangeResellerConsumeAmount', params);
      // Same value, different spelling: still the same request.
      const again = await call('ChangeResellerConsumeAmount', { ...params, Amount: '10.000' });
      expect(again.Data).toBe(first.Data);
      expect(again.RequestId).not.toBe(first.RequestId);
      expect(sim.account(owner)?.available).toBe('10.00');
      expect(sim.credits().filter((c) => c.outBizId === params.OutBizId)).toEqual([
        {
          outBizId: params.OutBizId,
          ownerId: owner,
          adjustType: 'decrease',
          amountMinor: '1000',
          currency: 'CNY',
          timesApplied: 1,
          transactionNumber: expect.stringMatching(/^\d{13}$/),
          appliedAt: expect.any(String),
        },
      ]);
    });

    it('refuses a repeated OutBizId with other parameters', async () => {
      const params = topUp({ OwnerId: '5000000000000003' });
      await call('ChangeResellerConsumeAmount', params);
      const err = await failureOf(call('ChangeResellerConsumeAmount', { ...params, Amount: '50.00' }));
      expect(err.code).toBe('IdempotentParameterMismatch');
      expect(sim.account('5000000000000003')?.available).toBe('49.99');
    });

    it('keeps a 16-digit OwnerId above 2^53 exact', async () => {
      const owner = '9007199254740993'; // 2^53 + 1: a JS number would turn it into ...992
      await call('ChangeResellerConsumeAmount', topUp({ OwnerId: owner, Amount: '1.23' }));
      expect(sim.account(owner)?.available).toBe('1.23');
      expect(sim.account('9007199254740992')).toBeUndefined();
      expect(sim.credits().at(-1)?.ownerId).toBe(owner);
      expect((await call('QueryResellerAvailableQuota', { OwnerId: owner })).Data).toBe('1.23');
    });

    it('handles JPY (no decimals) and "increase" (new spend)', async () => {
      const owner = '5000000000000004';
      sim.setAccount(owner, { quota: '10000', currency: 'JPY' });
      await call('ChangeResellerConsumeAmount', topUp({ OwnerId: owner, Currency: 'JPY', Amount: '4999' }));
      const spend = await call(
        'ChangeResellerConsumeAmount',
        topUp({ OwnerId: owner, Currency: 'JPY', AdjustType: 'increase', Amount: '999' }),
      );
      expect(spend.Data).toBe('-4000');
      expect(sim.account(owner)).toMatchObject({ available: '14000', currency: 'JPY' });
    });

    it.each([
      ['Amount', '-1.00', 'The parameter "Amount" is not valid.'],
      ['Amount', '0', 'The parameter "Amount" is not valid.'],
      ['Amount', '1e3', 'The parameter "Amount" is not valid.'],
      ['Amount', '49.991', 'The parameter "Amount" is not valid.'],
      ['Currency', 'EUR', 'The parameter "Currency" is not valid.'],
      ['AdjustType', 'sideways', 'The parameter "AdjustType" is not valid.'],
      ['OwnerId', '12ab', 'The parameter "OwnerId" is not valid.'],
      ['Source', '', 'Missing the must parameter.'],
      ['OutBizId', '', 'Missing the must parameter.'],
    ])(
      'rejects %s=%p with ParameterError (the documented code; InvalidParameter is not one): %s',
      async (name, value, message) => {
        const params = topUp({ OwnerId: '5000000000000005' });
        if (value === '') delete params[name];
        else params[name] = value;
        const err = await failureOf(call('ChangeResellerConsumeAmount', params));
        expect({ code: err.code, status: err.entry.response.statusCode, message: err.data.Message }).toEqual({
          code: 'ParameterError',
          status: 400,
          message,
        });
      },
    );

    it('refuses a currency that differs from the ledger', async () => {
      sim.setAccount('5000000000000006', { currency: 'USD' });
      const err = await failureOf(call('ChangeResellerConsumeAmount', topUp({ OwnerId: '5000000000000006' })));
      expect(err.code).toBe('ParameterError');
    });

    it('answers NotApplicable for an intl account on the China site', async () => {
      sim.setAccount('5000000000000007', { site: 'intl' });
      const err = await failureOf(call('ChangeResellerConsumeAmount', topUp({ OwnerId: '5000000000000007' })));
      expect(err.code).toBe('NotApplicable');
    });
  });

  describe('other operations', () => {
    it('CreateResellerUserQuota, then -303 when it exists; SetResellerUserQuota sets absolutely', async () => {
      const owner = '5000000000000010';
      const created = await call('CreateResellerUserQuota', { OwnerId: owner, Amount: '100', Currency: 'CNY' });
      expect(created.Data).toBe(true);
      const err = await failureOf(call('CreateResellerUserQuota', { OwnerId: owner, Amount: '100', Currency: 'CNY' }));
      expect(err.code).toBe('-303');
      expect(err.data.Message).toBe('Record is exists already.');
      expect((await call('SetResellerUserQuota', { OwnerId: owner, Amount: '750' })).Data).toBe(true);
      expect((await call('QueryResellerAvailableQuota', { OwnerId: owner })).Data).toBe('750.00');
    });

    it('QueryAccountBalance reports the caller balance object', async () => {
      const response = await call('QueryAccountBalance', {});
      expect(response.Data).toEqual({
        AvailableAmount: '1000000.00',
        AvailableCashAmount: '1000000.00',
        CreditAmount: '0.00',
        MybankCreditAmount: '0.00',
        Currency: 'CNY',
        QuotaLimit: '0.00',
      });
    });

    it('answers QueryResellerAvailableQuota with 400 -304 for a ledger that was never opened, even when credits open ledgers', async () => {
      const err = await failureOf(call('QueryResellerAvailableQuota', { OwnerId: '5000000000000012' }));
      expect({ code: err.code, status: err.entry.response.statusCode, message: err.data.Message }).toEqual({
        code: '-304',
        status: 400,
        message: 'Record is not exists.',
      });
      expect(sim.account('5000000000000012')).toBeUndefined();
      await call('ChangeResellerConsumeAmount', topUp({ OwnerId: '5000000000000012', Amount: '5.00' }));
      expect((await call('QueryResellerAvailableQuota', { OwnerId: '5000000000000012' })).Data).toBe('5.00');
    });

    it('answers -304 for an unknown owner when autoCreateAccounts is off', async () => {
      await withSimulator({ autoCreateAccounts: false }, async (strict) => {
        const pop = popClient(strict);
        const err = await failureOf(pop.request('QueryResellerAvailableQuota', { OwnerId: '5000000000000011' }, POST));
        expect(err.code).toBe('-304');
        expect(err.data.Message).toBe('Record is not exists.');
        expect((await failureOf(pop.request('ChangeResellerConsumeAmount', topUp(), POST))).code).toBe('-304');
        expect(strict.credits()).toEqual([]);
      });
    });

    it('moves money again for a repeated OutBizId when idempotency is off, and counts it', async () => {
      await withSimulator({ idempotency: false }, async (careless) => {
        const pop = popClient(careless);
        const params = topUp();
        await pop.request('ChangeResellerConsumeAmount', params, POST);
        await pop.request('ChangeResellerConsumeAmount', params, POST);
        expect(careless.credits()).toMatchObject([{ outBizId: params.OutBizId, timesApplied: 2 }]);
        expect(careless.account(OWNER)?.available).toBe('99.98');
      });
    });
  });

  describe('fault injection', () => {
    it('applyThenDrop: the client sees a socket error, the credit is applied once', async () => {
      sim.addFaults([{ fault: 'applyThenDrop', count: 1 }]);
      const params = topUp({ OwnerId: '5000000000000020' });
      const before = { dropped: 0, replayed: 0, ...sim.stats().outcomesByAction.ChangeResellerConsumeAmount };
      const err = await failureOf(call('ChangeResellerConsumeAmount', params));
      // isNativeError, not instanceof: Node's socket errors come from outside jest's sandbox realm.
      expect(types.isNativeError(err)).toBe(true);
      expect(err.code).toBe('ECONNRESET');
      // Re-sending the same OutBizId is how the service resolves the unknown outcome.
      const retry = await call('ChangeResellerConsumeAmount', params);
      expect(retry.Data).toBe('-49.99');
      expect(sim.credits().filter((c) => c.outBizId === params.OutBizId)).toMatchObject([{ timesApplied: 1 }]);
      expect(sim.stats().outcomesByAction.ChangeResellerConsumeAmount).toMatchObject({
        dropped: before.dropped + 1,
        replayed: before.replayed + 1,
      });
    });

    it('delay past the client timeout: the client times out, the credit is applied anyway', async () => {
      sim.addFaults([{ fault: 'delay', delayMs: 300, count: 1 }]);
      const params = topUp({ OwnerId: '5000000000000021' });
      const err = await failureOf(call('ChangeResellerConsumeAmount', params, { method: 'POST', timeout: 100 }));
      expect(err.name).toBe('RequestTimeoutError');
      expect(sim.credits().some((c) => c.outBizId === params.OutBizId)).toBe(false);
      await waitFor(() => sim.credits().find((c) => c.outBizId === params.OutBizId), 2000, 'the credit', 10);
      expect(sim.account('5000000000000021')?.available).toBe('49.99');
    });

    it('error5xx with html: pop-core throws a plain SyntaxError object; nothing is applied', async () => {
      sim.addFaults([{ fault: 'error5xx', html: true, count: 1 }]);
      const params = topUp({ OwnerId: '5000000000000022' });
      const err = await failureOf(call('ChangeResellerConsumeAmount', params));
      expect(types.isNativeError(err)).toBe(false);
      expect(err.name).toBe('SyntaxError');
      expect(err.text).toContain('503 Service Temporarily Unavailable');
      expect(sim.account('5000000000000022')).toBeUndefined();
    });

    it('error5xx as JSON: ServiceUnavailable with HTTP 503; nothing is applied', async () => {
      sim.addFaults([{ fault: 'error5xx', count: 1 }]);
      const err = await failureOf(call('ChangeResellerConsumeAmount', topUp({ OwnerId: '5000000000000023' })));
      expect(err.code).toBe('ServiceUnavailable');
      expect(err.entry.response.statusCode).toBe(503);
      expect(sim.account('5000000000000023')).toBeUndefined();
    });

    it('throttle and notAuthorized, limited to one owner and a number of calls', async () => {
      sim.addFaults([
        { fault: 'throttle', ownerId: '5000000000000024', count: 1 },
        { fault: 'notAuthorized', action: 'QueryResellerAvailableQuota', count: 1 },
      ]);
      await call('ChangeResellerConsumeAmount', topUp({ OwnerId: '5000000000000025' }));
      expect((await failureOf(call('ChangeResellerConsumeAmount', topUp({ OwnerId: '5000000000000024' })))).code).toBe(
        'Throttling.User',
      );
      await call('ChangeResellerConsumeAmount', topUp({ OwnerId: '5000000000000024' }));
      const err = await failureOf(call('QueryResellerAvailableQuota', { OwnerId: OWNER }));
      expect(err.code).toBe('NotAuthorized');
      expect(err.data.Message).toBe('This API is not authorized for caller.');
      expect(sim.faults()).toEqual([]);
    });

    it('probabilistic faults follow the seed', async () => {
      const pattern = async (): Promise<string> => {
        let result = '';
        await withSimulator(
          { seed: 42, rateLimitPerSecond: 0, faults: [{ fault: 'throttle', action: '*', probability: 0.5 }] },
          async (s) => {
            const pop = popClient(s);
            for (let i = 0; i < 12; i++) {
              result += await pop.request('QueryAccountBalance', {}, POST).then(
                () => '.',
                () => 'x',
              );
            }
          },
        );
        return result;
      };
      const first = await pattern();
      expect(first).toMatch(/x/);
      expect(first).toMatch(/\./);
      expect(await pattern()).toBe(first);
    });
  });

  describe('a repeated OutBizId', () => {
    it('gets the first result by default, an error code or a fresh Data when configured; money moves once in every mode', async () => {
      const answers: Record<string, unknown> = {};
      for (const repeatOutBizId of [
        undefined,
        { answer: 'error', code: '-303' } as const,
        { answer: 'error', code: 'IdempotentParameterMismatch' } as const,
        { answer: 'fresh' } as const,
      ]) {
        await withSimulator({ repeatOutBizId, rateLimitPerSecond: 0 }, async (s) => {
          const pop = popClient(s);
          const params = topUp({ Amount: '10.00' });
          const first = await pop.request<BssResponse>('ChangeResellerConsumeAmount', params, POST);
          // Another change in between, so a fresh Data differs from the first one.
          await pop.request('ChangeResellerConsumeAmount', topUp({ Amount: '1.00' }), POST);
          const again = await pop.request<BssResponse>('ChangeResellerConsumeAmount', params, POST).then(
            (r) => ({ Success: r.Success, Data: r.Data, first: first.Data }),
            (err) => ({ code: err.code, status: err.entry.response.statusCode }),
          );
          answers[repeatOutBizId ? JSON.stringify(repeatOutBizId) : 'default'] = again;
          expect(s.credits().filter((c) => c.outBizId === params.OutBizId)).toMatchObject([{ timesApplied: 1 }]);
          expect(s.account(OWNER)?.available).toBe('11.00');
        });
      }
      expect(answers).toEqual({
        default: { Success: true, Data: '-10.00', first: '-10.00' },
        '{"answer":"error","code":"-303"}': { code: '-303', status: 400 },
        '{"answer":"error","code":"IdempotentParameterMismatch"}': { code: 'IdempotentParameterMismatch', status: 400 },
        '{"answer":"fresh"}': { Success: true, Data: '-11.00', first: '-10.00' },
      });
    });

    it('can be set per call by a repeatOutBizId fault rule over the admin API, which first sends never use up', async () => {
      await withSimulator({ rateLimitPerSecond: 0 }, async (s) => {
        await request(s.url)
          .post('/__admin/faults')
          .send({ fault: 'repeatOutBizId', answer: 'error', code: '-303', count: 1 })
          .expect(200);
        const pop = popClient(s);
        const params = topUp();
        await pop.request('ChangeResellerConsumeAmount', params, POST);
        await pop.request('ChangeResellerConsumeAmount', topUp(), POST);
        expect((await failureOf(pop.request('ChangeResellerConsumeAmount', params, POST))).code).toBe('-303');
        // Used up: the next repeat gets the first result again.
        expect((await pop.request<BssResponse>('ChangeResellerConsumeAmount', params, POST)).Data).toBe('-49.99');
        expect(s.stats().outcomesByAction.ChangeResellerConsumeAmount).toEqual({ success: 2, '-303': 1, replayed: 1 });
      });
    });

    it('a rejection of the re-send after a lost answer (applyThenDrop, then NotAuthorized for repeats): applied once all the same', async () => {
      await withSimulator(
        {
          rateLimitPerSecond: 0,
          faults: [
            { fault: 'applyThenDrop', repeat: false, count: 1 },
            { fault: 'notAuthorized', repeat: true },
          ],
        },
        async (s) => {
          const pop = popClient(s);
          const params = topUp();
          expect((await failureOf(pop.request('ChangeResellerConsumeAmount', params, POST))).code).toBe('ECONNRESET');
          expect((await failureOf(pop.request('ChangeResellerConsumeAmount', params, POST))).code).toBe(
            'NotAuthorized',
          );
          expect(s.credits()).toMatchObject([{ outBizId: params.OutBizId, timesApplied: 1 }]);
          // A first send is not a repeat: the NotAuthorized rule leaves it alone.
          await pop.request('ChangeResellerConsumeAmount', topUp(), POST);
          expect(s.credits()).toHaveLength(2);
        },
      );
    });
  });

  describe('documented business errors as faults', () => {
    it.each([
      ['-1101', undefined, 400, 'The request processing has failed due to some unknown error.'],
      [
        'InternalError',
        undefined,
        400,
        'The request processing has failed due to some unknown error, exception or failure.',
      ],
      ['CreditInnerError', undefined, 500, 'This interface has some error. Please try again.'],
      ['CreditInnerError', 400, 400, 'This interface has some error. Please try again.'],
      ['UndefinedError', undefined, 500, 'The request processing has failed due to some unknown error.'],
      ['NotApplicable', undefined, 400, 'This API is not applicable for caller.'],
      ['ParameterError', undefined, 400, 'Missing the must parameter.'],
    ])(
      'reject %s (status %p) answers HTTP %d with the documented message and applies nothing',
      async (code, status, httpStatus, message) => {
        const owner = '5000000000000040';
        sim.addFaults([{ fault: 'reject', code, status, count: 1 }]);
        const err = await failureOf(call('ChangeResellerConsumeAmount', topUp({ OwnerId: owner })));
        expect({ code: err.code, status: err.entry.response.statusCode, message: err.data.Message }).toEqual({
          code,
          status: httpStatus,
          message,
        });
        expect(sim.account(owner)).toBeUndefined();
      },
    );
  });

  describe('accounts that spend their quota', () => {
    it('consume spendPerMinute as time passes, in whole minor units, never below nothing available', async () => {
      let now = Date.parse('2026-12-03T10:00:00Z');
      const owner = '5000000000000050';
      await withSimulator(
        { clock: () => now, accounts: [{ ownerId: owner, quota: '100.00', spendPerMinute: '60.00' }] },
        async (s) => {
          const pop = popClient(s);
          const available = async () =>
            (await pop.request<BssResponse>('QueryResellerAvailableQuota', { OwnerId: owner }, POST)).Data;
          expect(await available()).toBe('100.00');
          now += 30_000;
          expect(await available()).toBe('70.00');
          now += 15; // 1.5 cents: one whole cent now, the half carried
          expect(await available()).toBe('69.99');
          now += 5;
          expect(await available()).toBe('69.98');
          // A top-up raises what there is to spend; spending goes on from there.
          await pop.request('ChangeResellerConsumeAmount', topUp({ OwnerId: owner, Amount: '30.02' }), POST);
          now += 60_000;
          expect(await available()).toBe('40.00');
          now += 10 * 60_000;
          expect(await available()).toBe('0.00');
          expect(s.account(owner)).toMatchObject({ available: '0.00', spendPerMinute: '60.00' });
          // Changed over the admin API; reset opens the configured ledger again.
          await request(s.url)
            .post('/__admin/accounts')
            .send({ ownerId: owner, quota: '10', consumed: '0', spendPerMinute: '0' })
            .expect(200);
          now += 60_000;
          expect(await available()).toBe('10.00');
          s.reset();
          expect(s.account(owner)).toMatchObject({ available: '100.00', spendPerMinute: '60.00' });
        },
      );
    });
  });

  describe('admin API', () => {
    it('manages accounts, faults, credits, stats and reset over HTTP', async () => {
      await withSimulator({}, async (s) => {
        const admin = request(s.url);
        const owner = '5000000000000030';
        await admin.post('/__admin/accounts').send({ ownerId: owner, quota: '20.00' }).expect(200);
        expect((await admin.get(`/__admin/accounts/${owner}`).expect(200)).body).toMatchObject({
          ownerId: owner,
          available: '20.00',
        });

        await admin
          .post('/__admin/faults')
          .send([{ fault: 'notAuthorized', count: 1 }])
          .expect(200);
        expect((await admin.get('/__admin/faults')).body.faults).toEqual([{ fault: 'notAuthorized', count: 1 }]);
        await admin.post('/__admin/faults').send({ fault: 'bogus' }).expect(400);
        const pop = popClient(s);
        expect(
          (await failureOf(pop.request('ChangeResellerConsumeAmount', topUp({ OwnerId: owner }), POST))).code,
        ).toBe('NotAuthorized');
        await pop.request('ChangeResellerConsumeAmount', topUp({ OwnerId: owner }), POST);
        await admin.post('/__admin/faults').send({ fault: 'throttle' }).expect(200);
        await admin.delete('/__admin/faults').expect(200);

        expect((await admin.get('/__admin/credits').expect(200)).body.credits).toMatchObject([
          { ownerId: owner, amountMinor: '4999' },
        ]);
        expect((await admin.get('/__admin/stats').expect(200)).body).toMatchObject({
          requests: { ChangeResellerConsumeAmount: 2 },
          outcomes: { NotAuthorized: 1, success: 1 },
          // How late its own event loop ran: what can bunch the arrival times it measures.
          eventLoopDelayMaxMs: expect.any(Number),
        });

        await admin.post('/__admin/reset').expect(200);
        expect((await admin.get('/__admin/credits')).body.credits).toEqual([]);
        expect((await admin.get('/__admin/stats')).body.totalRequests).toBe(0);
        await admin.get(`/__admin/accounts/${owner}`).expect(404);
        await admin.get('/__admin/nothing').expect(404);
      });
    });
  });
});
