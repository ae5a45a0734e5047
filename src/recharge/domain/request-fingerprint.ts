import { createHash } from 'node:crypto';

export interface RechargeRequestFields {
  accountId: string;
  amount: number | bigint;
  currency: string;
  orderReference: string | null;
  metadata: Record<string, string>;
  callbackUrl: string | null;
}

/**
 * What "the same request" means for idempotency (docs/api.md): these fields, metadata
 * compared regardless of key order, and not where the idempotency key travelled.
 */
export function requestFingerprint(f: RechargeRequestFields): string {
  const metadata = Object.keys(f.metadata)
    .sort()
    .map((k) => [k, f.metadata[k]]);
  const canonical = JSON.stringify([
    f.accountId,
    String(f.amount),
    f.currency,
    f.orderReference,
    metadata,
    f.callbackUrl,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
