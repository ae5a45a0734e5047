/** The least a Standard Webhooks secret must hold: 24 random bytes (192 bits). */
export const MIN_WEBHOOK_SECRET_BYTES = 24;

/**
 * Why a `whsec_<base64>` secret is too weak to sign or verify webhooks, or null when it is fine.
 * Whoever holds a provider webhook secret decides recharge outcomes, so a short or patterned
 * secret (`whsec_AA==`, a repeated byte) is refused. Never echoes the secret.
 */
export function webhookSecretProblem(secret: string): string | null {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!match) return 'must be whsec_<base64>';
  const bytes = Buffer.from(match[1], 'base64');
  if (bytes.length < MIN_WEBHOOK_SECRET_BYTES) {
    return `must hold at least ${MIN_WEBHOOK_SECRET_BYTES} random bytes (this one holds ${bytes.length})`;
  }
  // 24 random bytes have about 23 distinct values; fewer than half of the length is a pattern.
  if (new Set(bytes).size < Math.min(12, bytes.length / 2)) return 'does not look random (too few distinct bytes)';
  return null;
}
