import { formatMinorAmount, isCurrency, parseMajorAmount } from './money';

describe('money', () => {
  it.each([
    ['49.99', 'CNY', 4999n],
    ['49.990', 'CNY', 4999n],
    ['49.9', 'USD', 4990n],
    ['4999', 'CNY', 499900n],
    ['0', 'CNY', 0n],
    ['4999', 'JPY', 4999n],
    ['4999.00', 'JPY', 4999n],
    ['12345678901234567.89', 'CNY', 1234567890123456789n],
  ] as const)('parses %s %s exactly', (text, currency, minor) => {
    expect(parseMajorAmount(text, currency)).toBe(minor);
  });

  it.each([
    ['49.991', 'CNY'],
    ['49.5', 'JPY'],
    ['-1', 'CNY'],
    ['1e3', 'CNY'],
    ['', 'CNY'],
    ['.5', 'CNY'],
    ['5.', 'CNY'],
    [' 5', 'CNY'],
    ['0x10', 'CNY'],
  ] as const)('rejects %p in %s', (text, currency) => {
    expect(parseMajorAmount(text, currency)).toBeUndefined();
  });

  it('formats minor units with the currency precision, sign included', () => {
    expect(formatMinorAmount(4999n, 'CNY')).toBe('49.99');
    expect(formatMinorAmount(5n, 'USD')).toBe('0.05');
    expect(formatMinorAmount(-4999n, 'CNY')).toBe('-49.99');
    expect(formatMinorAmount(4999n, 'JPY')).toBe('4999');
    expect(formatMinorAmount(0n, 'CNY')).toBe('0.00');
  });

  it('knows only CNY, USD and JPY', () => {
    expect(['CNY', 'USD', 'JPY', 'EUR', 'toString'].map(isCurrency)).toEqual([true, true, true, false, false]);
  });
});
