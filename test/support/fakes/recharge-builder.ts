import { newId } from '../../../libs/shared/ids';
import { Money } from '../../../src/recharge/domain/money';
import { NewRecharge, Recharge } from '../../../src/recharge/domain/recharge';

/** A new CREATED recharge with plausible values; override any field. */
export function aRecharge(now: Date, overrides: Partial<NewRecharge> = {}): Recharge {
  return Recharge.create(
    {
      id: newId('rch'),
      clientId: 'cli_test',
      idempotencyKey: newId('key'),
      requestFingerprint: 'fp',
      accountId: '1234567890123456',
      amount: Money.of(4999n, 'CNY'),
      orderReference: null,
      metadata: {},
      callbackUrl: null,
      ...overrides,
    },
    now,
  );
}
