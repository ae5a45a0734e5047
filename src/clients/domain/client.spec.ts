import { DomainError } from '../../../libs/shared/domain-error';
import { ALL_ACCOUNTS, Client } from './client';

describe('Client.register', () => {
  const now = new Date('2026-12-03T00:00:00Z');

  it.each(['0123', '0', '00', '123456789012345678901', '12a', ''])(
    'item 7: refuses the allowed account "%s" (not a canonical account UID)',
    (account) => {
      expect(() => Client.register('cli_1', 'billing', [account], now)).toThrow(DomainError);
    },
  );

  it.each([['123'], ['1'], ['99999999999999999999'], [ALL_ACCOUNTS]])('accepts the allowed account "%s"', (account) => {
    expect(Client.register('cli_1', 'billing', [account], now).client.allowedAccounts).toEqual([account]);
  });
});
