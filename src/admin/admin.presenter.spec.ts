import { chartSeries, csvField, csvLine } from './admin.presenter';

describe('ledger.csv lines (RFC 4180)', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\r\nlines', '"two\r\nlines"'],
    ['line\nfeed', '"line\nfeed"'],
    ['', ''],
  ])('%j → %j', (value, field) => {
    expect(csvField(value)).toBe(field);
  });

  it('a null is an empty field; every line ends with CRLF; columns in the agreed order', () => {
    expect(csvField(null)).toBe('');
    expect(
      csvLine({
        entryId: 'led_1',
        at: new Date('2026-12-03T10:00:00.000Z'),
        accountId: null,
        rechargeId: 'rch_1',
        clientId: 'cli_1',
        direction: 'debit',
        amount: '4999',
        currency: 'CNY',
        providerReference: 'TX,1',
      }),
    ).toBe('led_1,2026-12-03T10:00:00.000Z,,rch_1,cli_1,debit,4999,CNY,"TX,1"\r\n');
  });
});

describe('the chart series', () => {
  it('has one point per minute, zeros (and no confirmation time) where nothing finished', () => {
    const from = new Date('2026-12-03T10:00:00.000Z');
    const to = new Date('2026-12-03T10:03:30.000Z');
    const series = chartSeries(
      [
        {
          minute: new Date('2026-12-03T10:01:00.000Z'),
          succeeded: 3,
          failed: 1,
          canceled: 0,
          confirmationP50: 0.5,
          confirmationP95: 1.5,
        },
      ],
      from,
      to,
    );
    expect(series.minutes).toEqual([
      '2026-12-03T10:00:00.000Z',
      '2026-12-03T10:01:00.000Z',
      '2026-12-03T10:02:00.000Z',
      '2026-12-03T10:03:00.000Z',
    ]);
    expect(series.succeeded).toEqual([0, 3, 0, 0]);
    expect(series.failed).toEqual([0, 1, 0, 0]);
    expect(series.confirmationP95Seconds).toEqual([null, 1.5, null, null]);
  });
});
