import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Webhook } from 'standardwebhooks';

/**
 * Push notifications (docs/webhooks.md). Alibaba publishes no billing push, so the simulator stands in
 * for the relay: CloudEvents 1.0 structured JSON, signed per Standard Webhooks. The delay, duplicate
 * and out-of-order knobs reproduce what at-least-once delivery does to a receiver.
 */
export interface NotifyOptions {
  url: string;
  /** A Standard Webhooks secret, `whsec_<base64>`. */
  secret: string;
  /** Hold each event this long before sending it. */
  delayMs?: number;
  /** Send every event twice with the same webhook-id. */
  duplicate?: boolean;
  /** Collect events for a short while and send them in a shuffled order (never the original one). */
  outOfOrder?: boolean;
}

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject: string;
  datacontenttype: 'application/json';
  data: unknown;
}

const MAX_ATTEMPTS = 4;
const RETRY_BASE_MS = 100;
const OUT_OF_ORDER_HOLD_MS = 100;
const SEND_TIMEOUT_MS = 5000;

export class WebhookNotifier {
  private readonly webhook: Webhook;
  private readonly timers = new Set<NodeJS.Timeout>();
  private held: CloudEvent[] = [];
  private closed = false;

  constructor(
    private readonly options: NotifyOptions,
    private readonly random: () => number,
    private readonly report: (delivered: boolean) => void,
    private readonly log: (msg: string) => void,
  ) {
    if (!/^whsec_./.test(options.secret)) throw new Error('notify.secret must be a whsec_<base64> secret');
    this.webhook = new Webhook(options.secret);
    new URL(options.url); // fail at start, not at the first credit
  }

  publish(type: string, subject: string, data: unknown): CloudEvent {
    const event: CloudEvent = {
      specversion: '1.0',
      id: `evt_${randomBytes(12).toString('hex')}`,
      source: 'acs:bss',
      type,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      subject,
      datacontenttype: 'application/json',
      data,
    };
    this.after(this.options.delayMs ?? 0, () =>
      this.options.outOfOrder ? this.hold(event) : void this.dispatch(event),
    );
    return event;
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private hold(event: CloudEvent): void {
    this.held.push(event);
    if (this.held.length === 1) this.after(OUT_OF_ORDER_HOLD_MS, () => void this.flushHeld());
  }

  private async flushHeld(): Promise<void> {
    const batch = this.shuffled(this.held);
    this.held = [];
    for (const event of batch) await this.dispatch(event);
  }

  private shuffled(events: CloudEvent[]): CloudEvent[] {
    const result = [...events];
    for (let i = result.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [result[i], result[j]] = [result[j]!, result[i]!];
    }
    // A shuffle may land on the original order; the point of this mode is that it does not.
    if (result.length > 1 && result.every((event, i) => event === events[i])) result.reverse();
    return result;
  }

  private async dispatch(event: CloudEvent): Promise<void> {
    await this.deliver(event);
    if (this.options.duplicate) await this.deliver(event);
  }

  /** Retries keep the webhook-id (receivers dedupe on it) but are signed afresh with a new timestamp. */
  private async deliver(event: CloudEvent): Promise<void> {
    const body = JSON.stringify(event);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS && !this.closed; attempt++) {
      const now = new Date();
      const headers = {
        'content-type': 'application/cloudevents+json; charset=utf-8',
        'webhook-id': event.id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': this.webhook.sign(event.id, now, body),
      };
      try {
        const status = await postOnce(this.options.url, headers, body);
        if (status >= 200 && status < 300) {
          this.report(true);
          return;
        }
        this.log(`notify ${event.id} attempt ${attempt}: HTTP ${status}`);
      } catch (err) {
        this.log(`notify ${event.id} attempt ${attempt}: ${(err as Error).message}`);
      }
      if (attempt < MAX_ATTEMPTS)
        await new Promise<void>((resolve) => this.after(RETRY_BASE_MS * 2 ** (attempt - 1), resolve));
    }
    if (this.closed) return;
    this.log(`notify ${event.id}: dropped after ${MAX_ATTEMPTS} attempts`);
    this.report(false);
  }

  private after(ms: number, run: () => void): void {
    if (this.closed) return;
    if (ms <= 0) {
      run();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }
}

function postOnce(url: string, headers: Record<string, string>, body: string): Promise<number> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // agent: false so no pooled keep-alive socket outlives the simulator.
    const req = send(
      target,
      {
        method: 'POST',
        agent: false,
        timeout: SEND_TIMEOUT_MS,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${SEND_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
