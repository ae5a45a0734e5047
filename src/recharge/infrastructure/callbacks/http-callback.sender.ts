import { Webhook } from 'standardwebhooks';
import { CallbackDelivery, CallbackSender, DeliveryAttempt } from '../../application/ports/callback-outbox';

/** POSTs a callback signed per Standard Webhooks with the client's secret. Never follows redirects. */
export class HttpCallbackSender extends CallbackSender {
  constructor(private readonly timeoutMs = 10_000) {
    super();
  }

  async send(d: CallbackDelivery, at: Date): Promise<DeliveryAttempt> {
    const signature = new Webhook(d.webhookSecret).sign(d.id, at, d.payload);
    const started = Date.now();
    try {
      const response = await fetch(d.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'alicloud-recharge-callbacks/1',
          'webhook-id': d.id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: d.payload,
      });
      await response.arrayBuffer().catch(() => undefined);
      return {
        statusCode: response.status,
        latencyMs: Date.now() - started,
        error: response.ok ? null : `HTTP ${response.status}`,
      };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      return {
        statusCode: null,
        latencyMs: Date.now() - started,
        error: (cause ? `${cause} ` : '') + message.slice(0, 300),
      };
    }
  }
}
