/**
 * Exact money for the simulator. BSS amounts travel as decimal strings in major units ("49.99");
 * the simulator holds them as BigInt minor units so no float ever touches a balance.
 */
export type Currency = 'CNY' | 'USD' | 'JPY';

const DECIMALS: Record<Currency, number> = { CNY: 2, USD: 2, JPY: 0 };

// Bounded so a hostile request cannot make us build an enormous BigInt.
const DECIMAL_STRING = /^(\d{1,20})(?:\.(\d{1,20}))?$/;

export function isCurrency(value: unknown): value is Currency {
  return typeof value === 'string' && Object.hasOwn(DECIMALS, value);
}

/**
 * "49.99", "49.990" and "49.9" are all exact CNY amounts; "49.991" is not, and neither are
 * negatives, exponents or blanks. Returns undefined for anything that is not exact.
 */
export function parseMajorAmount(text: string, currency: Currency): bigint | undefined {
  const match = DECIMAL_STRING.exec(text);
  if (!match) return undefined;
  const [, whole, fraction = ''] = match;
  const decimals = DECIMALS[currency];
  // Trailing zeros past the currency's precision are harmless; any other digit would be rounded away.
  if (/[^0]/.test(fraction.slice(decimals))) return undefined;
  return BigInt(whole + fraction.slice(0, decimals).padEnd(decimals, '0'));
}

/** 4999n CNY → "49.99"; 4999n JPY → "4999". Negative values keep their sign (a ledger can go below zero). */
export function formatMinorAmount(minor: bigint, currency: Currency): string {
  const decimals = DECIMALS[currency];
  const sign = minor < 0n ? '-' : '';
  const digits = (minor < 0n ? -minor : minor).toString().padStart(decimals + 1, '0');
  if (decimals === 0) return sign + digits;
  return `${sign}${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}
