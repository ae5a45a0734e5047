import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { BssSimulator, createBssSimulator, formatMinorAmount } from '../../../libs/bss-simulator';
import {
  CallbackReceiver,
  ChildService,
  countsByState,
  freePort,
  newWebhookSecret,
  notFinalCount,
  Sql,
  sqlOn,
  startCallbackReceiver,
  startCompiledService,
} from '../../support/confirmations';
import { createTestDatabase } from '../../support/database';
import { createClientWithCli } from '../../support/node-process';
import { newAccountId } from '../../support/dispatcher-harness';
import { waitFor } from '../../support/wait';
import { newKey } from '../../support/e2e-helpers';
import { compiledService } from '../../support/private-build';

const RECHARGES = 100;
const KILL_AFTER_SUCCEEDED = 25;

/**
 * The compiled service as a child process, against the BSS simulator (latency, calls that time out
 * but are applied anyway, applied-then-dropped answers, 5xx) with notifications and callbacks on:
 * SIGKILLed while recharges are in flight, restarted, and then every recharge must end final with
 * the money moved exactly once — at the provider, in our ledger — and every callback delivered.
 */
describe('crash recovery: kill -9 mid-flight, restart, settle exactly once (issue 4)', () => {
  let sim: BssSimulator;
  let receiver: CallbackReceiver;
  let databaseUrl: string;
  let sql: Sql;
  let port: number;
  let env: Record<string, string>;
  let client: { clientId: string; apiKey: string; webhookSecret: string };
  let service: ChildService | undefined;
  let mainJs: string;

  beforeAll(async () => {
    // `npm run build` of the current sources into a private folder (shared by the suites that need it).
    const out = compiledService();
    mainJs = join(out, 'src', 'main.js');

    databaseUrl = await createTestDatabase();
    sql = sqlOn(databaseUrl);
    receiver = await startCallbackReceiver();
    port = await freePort();
    const providerWebhookSecret = newWebhookSecret();
    sim = await createBssSimulator({
      port: 0,
      rateLimitPerSecond: 100,
      latencyMs: 100,
      seed: 42,
      faults: [
        // Past PROVIDER_TIMEOUT_MS: the service gives up on the answer, the provider applies it anyway.
        { fault: 'delay', delayMs: 900, probability: 0.1 },
        { fault: 'applyThenDrop', probability: 0.1 },
        { fault: 'error5xx', probability: 0.05 },
      ],
      // The relay's notifications to the service's own webhook (dropped while it is down).
      notify: { url: `http://127.0.0.1:${port}/webhooks/alibaba-cloud`, secret: providerWebhookSecret },
    });
    env = {
      DATABASE_URL: databaseUrl,
      PROVIDER: 'simulator',
      ALIBABA_CLOUD_BSS_ENDPOINT: sim.url,
      PROVIDER_MAX_RPS: '20',
      PROVIDER_TIMEOUT_MS: '500',
      PROVIDER_WEBHOOK_SECRETS: providerWebhookSecret,
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_AFTER_MS: '500',
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
      CALLBACK_RETRY_BASE_MS: '200',
      CLIENT_RATE_LIMIT_RPS: '10000',
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      SHUTDOWN_GRACE_MS: '3000',
      LOG_LEVEL: 'warn',
    };

    // The operator's way to register a client: the compiled CLI against the same database.
    client = await createClientWithCli(out, databaseUrl, { name: 'crash-test' });
    expect(client).toEqual({
      clientId: expect.any(String),
      apiKey: expect.any(String),
      webhookSecret: expect.stringMatching(/^whsec_/),
    });
  }, 150_000);

  afterAll(async () => {
    await service?.kill9();
    await sql?.close();
    await receiver?.close();
    await sim?.close();
  });

  it(`${RECHARGES} recharges, the service SIGKILLed mid-flight and restarted: all final, money moved exactly once, every callback delivered`, async () => {
    service = await startCompiledService(mainJs, port, env);

    // Five accounts, one currency each (a reseller ledger at the provider has one currency).
    const accounts = [
      { id: newAccountId(), currency: 'CNY' },
      { id: newAccountId(), currency: 'USD' },
      { id: newAccountId(), currency: 'JPY' },
      { id: newAccountId(), currency: 'CNY' },
      { id: newAccountId(), currency: 'USD' },
    ];
    const planned = Array.from({ length: RECHARGES }, (_, i) => {
      const account = accounts[i % accounts.length]!;
      return {
        accountId: account.id,
        currency: account.currency,
        amount: 100 + 7 * i,
        ...(i % 3 === 0 ? { callbackUrl: `${receiver.url}/hooks/${i}` } : {}),
      };
    });
    const url = service.url;
    const ids: string[] = new Array(RECHARGES);
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = next++; i < RECHARGES; i = next++) {
          const res = await fetch(`${url}/v1/recharges`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${client.apiKey}`,
              'content-type': 'application/json',
              'idempotency-key': newKey(),
            },
            body: JSON.stringify(planned[i]),
          });
          const body = (await res.json()) as { id: string };
          if (res.status !== 202) throw new Error(`POST ${i}: ${res.status} ${JSON.stringify(body)}`);
          ids[i] = body.id;
        }
      }),
    );

    await waitFor(
      async () => ((await countsByState(sql)).SUCCEEDED ?? 0) >= KILL_AFTER_SUCCEEDED,
      30_000,
      `${KILL_AFTER_SUCCEEDED} recharges to succeed`,
    );
    const killedAt = Date.now();
    await service.kill9();
    const atKill = await countsByState(sql);
    const inFlight = RECHARGES - (atKill.SUCCEEDED ?? 0) - (atKill.FAILED ?? 0) - (atKill.CANCELED ?? 0);
    const creditsAtKill = sim.credits().length;
    console.log(
      `killed (SIGKILL) with ${inFlight} of ${RECHARGES} recharges not final: ${JSON.stringify(atKill)}; provider had applied ${creditsAtKill} credits`,
    );
    expect(inFlight).toBeGreaterThan(0);

    service = await startCompiledService(mainJs, port, env);
    const restartedAt = Date.now();
    await waitFor(
      async () => (await notFinalCount(sql)) === 0,
      60_000,
      'every recharge to be final after the restart',
      100,
    );
    const allFinalAt = Date.now();

    // Callbacks: every final recharge with a callbackUrl has one delivery, and all are delivered.
    const withCallback = planned.filter((p) => p.callbackUrl).length;
    await waitFor(
      async () => {
        const rows = await sql<{ status: string }>('SELECT status FROM callback_deliveries');
        return rows.length === withCallback && rows.every((r) => r.status === 'delivered');
      },
      65_000,
      'every callback to be delivered',
      100,
    );
    const allDeliveredAt = Date.now();
    const credits = sim.credits();
    console.log(
      [
        `restart took ${restartedAt - killedAt} ms (kill → listening); all final ${allFinalAt - restartedAt} ms after the restart`,
        `(${allFinalAt - killedAt} ms after the kill); all callbacks delivered ${allDeliveredAt - restartedAt} ms after the restart`,
        `credits applied at the provider: ${credits.length} (expected ${RECHARGES}); ChangeResellerConsumeAmount calls: ${sim.stats().requests.ChangeResellerConsumeAmount};`,
        `outcomes: ${JSON.stringify(sim.stats().outcomesByAction.ChangeResellerConsumeAmount)}; notifications: ${JSON.stringify(sim.stats().notifications)};`,
        `callback requests received: ${receiver.received.length} for ${withCallback} deliveries`,
      ].join(' '),
    );

    // Every recharge final; no rejection fault was configured, so every one SUCCEEDED.
    expect(await countsByState(sql)).toEqual({ SUCCEEDED: RECHARGES });

    // Provider: exactly one credit per recharge, each applied once, with our amount, owner and currency.
    expect(credits).toHaveLength(RECHARGES);
    expect(credits.map((c) => c.outBizId).sort()).toEqual([...ids].sort());
    for (const c of credits) {
      const p = planned[ids.indexOf(c.outBizId)]!;
      expect({
        timesApplied: c.timesApplied,
        ownerId: c.ownerId,
        amountMinor: c.amountMinor,
        currency: c.currency,
        adjustType: c.adjustType,
      }).toEqual({
        timesApplied: 1,
        ownerId: p.accountId,
        amountMinor: String(p.amount),
        currency: p.currency,
        adjustType: 'decrease',
      });
    }

    // Our ledger: exactly two lines per recharge, balanced per currency.
    const perRecharge = await sql<{ recharge_id: string; n: number }>(
      'SELECT recharge_id, count(*)::int AS n FROM ledger_entries GROUP BY recharge_id',
    );
    expect(perRecharge).toHaveLength(RECHARGES);
    expect(perRecharge.filter((r) => r.n !== 2)).toEqual([]);
    const sums = await sql<{ currency: string; total: string }>(
      `SELECT currency, sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END)::text AS total FROM ledger_entries GROUP BY currency ORDER BY currency`,
    );
    expect(sums).toEqual([
      { currency: 'CNY', total: '0' },
      { currency: 'JPY', total: '0' },
      { currency: 'USD', total: '0' },
    ]);
    // Exactly one transition to SUCCEEDED per recharge.
    const successes = await sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM recharge_events WHERE to_state = 'SUCCEEDED'`,
    );
    expect(successes[0]!.n).toBe(RECHARGES);

    // Per account: our balance (journal and cached balance) equals what the provider applied for that OwnerId.
    for (const account of accounts) {
      const atProvider = credits
        .filter((c) => c.ownerId === account.id)
        .reduce((s, c) => s + BigInt(c.amountMinor), 0n);
      const expected = planned.filter((p) => p.accountId === account.id).reduce((s, p) => s + BigInt(p.amount), 0n);
      expect(atProvider).toBe(expected);
      const [journal] = await sql<{ total: string }>(
        `SELECT coalesce(sum(amount), 0)::text AS total FROM ledger_entries WHERE account_id = $1 AND direction = 'credit' AND currency = $2`,
        [account.id, account.currency],
      );
      const [cached] = await sql<{ amount: string }>(
        'SELECT amount::text AS amount FROM balances WHERE ledger_account = $1 AND currency = $2',
        [`customer:${account.id}`, account.currency],
      );
      expect([BigInt(journal!.total), BigInt(cached!.amount)]).toEqual([atProvider, atProvider]);
      expect(sim.account(account.id)).toMatchObject({
        available: formatMinorAmount(atProvider, account.currency as 'CNY'),
        currency: account.currency,
      });
    }

    // Callbacks: one delivery per recharge with a callbackUrl, delivered; each webhook-id reached the
    // receiver (possibly more than once, when the kill fell between sending and recording), signed.
    const deliveries = await sql<{ id: string; recharge_id: string; status: string; event_type: string; url: string }>(
      'SELECT id, recharge_id, status, event_type, url FROM callback_deliveries',
    );
    expect(deliveries).toHaveLength(withCallback);
    for (const d of deliveries) {
      const i = ids.indexOf(d.recharge_id);
      expect(d).toMatchObject({ status: 'delivered', event_type: 'recharge.succeeded', url: planned[i]!.callbackUrl });
    }
    const received = new Map(
      receiver.received.filter((r) => r.status === 200).map((r) => [String(r.headers['webhook-id']), r]),
    );
    expect([...received.keys()].sort()).toEqual(deliveries.map((d) => d.id).sort());
    const verifier = new Webhook(client.webhookSecret);
    for (const d of deliveries) {
      const cb = received.get(d.id)!;
      const event = verifier.verify(cb.body, cb.headers as Record<string, string>) as {
        type: string;
        subject: string;
        data: { state: string; id: string };
      };
      expect(event).toMatchObject({
        type: 'recharge.succeeded',
        subject: d.recharge_id,
        data: { id: d.recharge_id, state: 'SUCCEEDED' },
      });
    }

    // The restarted replica still shuts down cleanly.
    expect(await service.stop()).toBe(0);
    service = undefined;
  }, 170_000);
});
