import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks verification (HMAC-SHA256 over "id.timestamp.body", 5-minute tolerance) against
 * every active secret, so a secret can be rotated without dropping notifications.
 */
export class WebhookSignatureVerifier {
  private readonly webhooks: Webhook[];

  constructor(secrets: string[]) {
    this.webhooks = secrets.map((s) => new Webhook(s));
  }

  isValid(rawBody: Buffer | undefined, headers: Record<string, string | string[] | undefined>): boolean {
    const id = headers['webhook-id'];
    const timestamp = headers['webhook-timestamp'];
    const signature = headers['webhook-signature'];
    if (!rawBody || typeof id !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string')
      return false;
    const wanted = { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature };
    return this.webhooks.some((w) => {
      try {
        w.verify(rawBody, wanted, { jsonParse: false });
        return true;
      } catch {
        return false;
      }
    });
  }
}
