import { Money } from './money';

describe('Money', () => {
  it.each([
    [1n, 'CNY', '0.01'],
    [4999n, 'CNY', '49.99'],
    [4999n, 'USD', '49.99'],
    [4999n, 'JPY', '4999'],
    [100n, 'CNY', '1.00'],
    [10n, 'USD', '0.10'],
    [0n, 'CNY', '0.00'],
    [100000000n, 'CNY', '1000000.00'],
    [123456789012345678901234567890n, 'USD', '1234567890123456789012345678.90'],
    [-5n, 'CNY', '-0.05'],
  ] as const)('%s minor %s → "%s"', (minor, currency, expected) => {
    expect(Money.of(minor, currency).toMajorString()).toBe(expected);
  });

  it.each([
    ['49.99', 'CNY', 4999n],
    ['49.990', 'CNY', 4999n],
    ['49.9', 'CNY', 4990n],
    ['49', 'CNY', 4900n],
    ['0.01', 'USD', 1n],
    ['4999', 'JPY', 4999n],
    ['4999.000', 'JPY', 4999n],
    ['-1.5', 'CNY', -150n],
  ] as const)('parses "%s" %s exactly as %s minor', (text, currency, minor) => {
    expect(Money.fromMajorString(text, currency).minor).toBe(minor);
  });

  it.each([
    ['49.999', 'CNY'],
    ['1.5', 'JPY'],
    ['abc', 'CNY'],
    ['1e3', 'USD'],
    ['', 'CNY'],
    ['1.', 'CNY'],
  ] as const)('refuses "%s" %s', (text, currency) => {
    expect(() => Money.fromMajorString(text, currency)).toThrow();
  });

  it('round-trips every amount up to 10,000 minor units', () => {
    for (let i = 0; i <= 10000; i++) {
      for (const c of ['CNY', 'JPY'] as const) {
        expect(Money.fromMajorString(Money.of(i, c).toMajorString(), c).minor).toBe(BigInt(i));
      }
    }
  });

  it('refuses non-integer minor units', () => {
    expect(() => Money.of(1.5, 'CNY')).toThrow();
    expect(() => Money.of('1.5', 'CNY')).toThrow();
    expect(() => Money.of(Number.MAX_SAFE_INTEGER + 1, 'CNY')).toThrow();
  });

  it('compares by value and currency', () => {
    expect(Money.fromMajorString('49.99', 'CNY').equals(Money.fromMajorString('49.990', 'CNY'))).toBe(true);
    expect(Money.of(1, 'CNY').equals(Money.of(1, 'USD'))).toBe(false);
  });
});
