import RPCClient from '@alicloud/pop-core';
import { randomBytes } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { BssSimulator, createBssSimulator, DEFAULT_CREDENTIAL } from './bss-simulator';
import { NotifyOptions } from './webhook-notifier';
import { sleep } from '../../test/support/wait';

/** Notifications end to end: a credit applied through pop-core, received and verified by a local server. */

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

class Receiver {
  readonly received: Received[] = [];
  /** Statuses to answer with, in order; 204 once they run out. */
  answers: number[] = [];
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(this.answers.shift() ?? 204).end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/alibaba-cloud`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  async waitFor(count: number, timeoutMs = 3000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} deliveries, got ${this.received.length}`);
      await sleep(10);
    }
    return this.received;
  }
}

function verify(delivery: Received): any {
  return new Webhook(SECRET).verify(delivery.body, delivery.headers as Record<string, string>);
}

let seq = 0;
function topUp(overrides: Record<string, string> = {}): Record<string, string> {
  seq += 1;
  return {
    OwnerId: '1234567890123456',
    AdjustType: 'decrease',
    Amount: '49.990',
    Currency: 'CNY',
    BusinessType: 'quota_amount_adjust',
    Source: 'alicloud-recharge',
    OutBizId: `rch_notify_${seq}`,
    ...overrides,
  };
}

describe('BSS simulator notifications', () => {
  let receiver: Receiver;
  let url: string;
  let sim: BssSimulator | undefined;

  beforeEach(async () => {
    receiver = new Receiver();
    url = await receiver.start();
  });
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
    await receiver.stop();
  });

  async function start(notify: Partial<NotifyOptions> = {}): Promise<RPCClient> {
    sim = await createBssSimulator({ port: 0, rateLimitPerSecond: 0, notify: { url, secret: SECRET, ...notify } });
    return new RPCClient({ ...DEFAULT_CREDENTIAL, endpoint: sim.url, apiVersion: '2017-12-14' });
  }

  it('sends a signed CloudEvent when a top-up is applied, and none for a replay or new spend', async () => {
    const pop = await start();
    const params = topUp();
    await pop.request('ChangeResellerConsumeAmount', params, { method: 'POST' });
    await pop.request('ChangeResellerConsumeAmount', params, { method: 'POST' });
    await pop.request('ChangeResellerConsumeAmount', topUp({ AdjustType: 'increase' }), { method: 'POST' });

    const [delivery] = await receiver.waitFor(1);
    const event = verify(delivery!);
    const credit = sim!.credits()[0]!;
    expect(event).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(/^evt_[0-9a-f]{24}$/),
      source: 'acs:bss',
      type: 'bss:Recharge:Succeeded',
      time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
      subject: params.OutBizId,
      datacontenttype: 'application/json',
      data: {
        OutBizId: params.OutBizId,
        OwnerId: '1234567890123456',
        Amount: '49.99',
        Currency: 'CNY',
        Status: 'SUCCEEDED',
        TransactionNumber: credit.transactionNumber,
        FailureCode: null,
      },
    });
    expect(delivery!.headers['webhook-id']).toBe(event.id);
    expect(delivery!.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    await sleep(100);
    expect(receiver.received).toHaveLength(1);
    expect(sim!.stats().notifications).toEqual({ delivered: 1, failed: 0 });
  });

  it('duplicate: sends each event twice with the same webhook-id', async () => {
    const pop = await start({ duplicate: true });
    await pop.request('ChangeResellerConsumeAmount', topUp(), { method: 'POST' });
    const [first, second] = await receiver.waitFor(2);
    expect(first!.headers['webhook-id']).toBe(second!.headers['webhook-id']);
    expect(verify(second!).id).toBe(verify(first!).id);
  });

  it('outOfOrder: holds events and sends them in another order', async () => {
    const pop = await start({ outOfOrder: true });
    // Concurrent, so all three land inside one hold window even on a slow machine.
    await Promise.all(
      [topUp(), topUp(), topUp()].map((p) => pop.request('ChangeResellerConsumeAmount', p, { method: 'POST' })),
    );
    const applied = sim!.credits().map((c) => c.outBizId);
    const deliveries = await receiver.waitFor(3);
    const subjects = deliveries.map((d) => verify(d).subject);
    expect([...subjects].sort()).toEqual([...applied].sort());
    expect(subjects).not.toEqual(applied);
  });

  it('delayMs: holds each event before sending it', async () => {
    const pop = await start({ delayMs: 150 });
    const applied = Date.now();
    await pop.request('ChangeResellerConsumeAmount', topUp(), { method: 'POST' });
    await receiver.waitFor(1);
    expect(Date.now() - applied).toBeGreaterThanOrEqual(145);
  });

  it('retries a failed delivery with the same webhook-id', async () => {
    const pop = await start();
    receiver.answers = [500, 503];
    await pop.request('ChangeResellerConsumeAmount', topUp(), { method: 'POST' });
    const deliveries = await receiver.waitFor(3);
    expect(new Set(deliveries.map((d) => d.headers['webhook-id'])).size).toBe(1);
    deliveries.forEach((d) => verify(d));
    await sleep(20);
    expect(sim!.stats().notifications).toEqual({ delivered: 1, failed: 0 });
  });

  it('emits Failed or Canceled events with arbitrary data through POST /__admin/notify', async () => {
    await start();
    const data = {
      OutBizId: 'rch_x',
      OwnerId: '1',
      Amount: '1.00',
      Currency: 'CNY',
      Status: 'FAILED',
      FailureCode: 'NotAuthorized',
    };
    const answer = await request(sim!.url)
      .post('/__admin/notify')
      .send({ type: 'bss:Recharge:Failed', data })
      .expect(202);
    sim!.notify('Canceled', { ...data, Status: 'CANCELED' });

    const deliveries = await receiver.waitFor(2);
    const events = deliveries.map(verify);
    expect(events.map((e) => e.type).sort()).toEqual(['bss:Recharge:Canceled', 'bss:Recharge:Failed']);
    const failed = events.find((e) => e.type === 'bss:Recharge:Failed');
    expect(failed).toMatchObject({ id: answer.body.id, subject: 'rch_x', data });
  });

  it('rejects a secret that is not whsec_', async () => {
    await expect(createBssSimulator({ port: 0, notify: { url, secret: 'plain' } })).rejects.toThrow(/whsec_/);
  });
});
