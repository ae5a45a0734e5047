import { DomainError } from '../../../libs/shared/domain-error';

export const CURRENCIES = ['CNY', 'USD', 'JPY'] as const;
export type Currency = (typeof CURRENCIES)[number];

/** Digits after the decimal point of each currency's major unit (ISO 4217). */
export const CURRENCY_EXPONENT: Record<Currency, number> = { CNY: 2, USD: 2, JPY: 0 };

export const isCurrency = (value: unknown): value is Currency =>
  typeof value === 'string' && (CURRENCIES as readonly string[]).includes(value);

/**
 * An amount in integer minor units. Arithmetic is BigInt so no float ever touches money; the
 * provider's decimal string is produced and parsed by string manipulation, never by division.
 */
export class Money {
  private constructor(
    readonly minor: bigint,
    readonly currency: Currency,
  ) {}

  static of(minor: bigint | number | string, currency: Currency): Money {
    if (typeof minor === 'number' && !Number.isSafeInteger(minor)) {
      throw new DomainError('INVALID_ARGUMENT', `amount must be an integer number of minor units, got ${minor}`);
    }
    if (typeof minor === 'string' && !/^-?\d+$/.test(minor)) {
      throw new DomainError('INVALID_ARGUMENT', `amount must be an integer number of minor units, got "${minor}"`);
    }
    return new Money(BigInt(minor), currency);
  }

  /** Parses a provider decimal string in major units ("49.99", "49.990", "4999") exactly. */
  static fromMajorString(value: string, currency: Currency): Money {
    const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value.trim());
    if (!match) throw new DomainError('INVALID_ARGUMENT', `not a decimal amount: "${value}"`);
    const [, sign, whole, fraction = ''] = match;
    const exponent = CURRENCY_EXPONENT[currency];
    const significant = fraction.replace(/0+$/, '');
    if (significant.length > exponent) {
      throw new DomainError('INVALID_ARGUMENT', `"${value}" has more precision than ${currency} allows`);
    }
    const minor = BigInt(whole + significant.padEnd(exponent, '0'));
    return new Money(sign === '-' ? -minor : minor, currency);
  }

  /** The decimal string in major units that Alibaba Cloud expects: 1 → "0.01", 4999 → "49.99", JPY 4999 → "4999". */
  toMajorString(): string {
    const exponent = CURRENCY_EXPONENT[this.currency];
    const negative = this.minor < 0n;
    const digits = (negative ? -this.minor : this.minor).toString();
    if (exponent === 0) return (negative ? '-' : '') + digits;
    const padded = digits.padStart(exponent + 1, '0');
    const major = `${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
    return (negative ? '-' : '') + major;
  }

  isPositive(): boolean {
    return this.minor > 0n;
  }

  equals(other: Money): boolean {
    return this.currency === other.currency && this.minor === other.minor;
  }

  toString(): string {
    return `${this.toMajorString()} ${this.currency}`;
  }
}
