import { ValidatorConstraint, ValidatorConstraintInterface, getMetadataStorage } from 'class-validator';
import { DomainError } from '../../../libs/shared/domain-error';
import { CreateRechargeDto } from './recharge.dto';
import { assertNoAsyncConstraints, validationPipe } from './validation';

const BODY = { type: 'body' as const, metatype: CreateRechargeDto, data: undefined };

describe('the validation pipe (synchronous class-validator)', () => {
  it('turns a valid body into the DTO and refuses wrong types, unknown fields and bad custom values', async () => {
    const ok = (await validationPipe.transform(
      { accountId: '1234567890123456', amount: 4999, currency: 'CNY', metadata: { source: 'x' } },
      BODY,
    )) as CreateRechargeDto;
    expect(ok).toBeInstanceOf(CreateRechargeDto);
    expect(ok.amount).toBe(4999);

    const refused = await Promise.resolve(
      validationPipe.transform(
        { accountId: '0123', amount: '100', currency: 'CNY', metadata: { n: 3 }, extra: true },
        BODY,
      ),
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DomainError);
    const fields = (refused as DomainError).fieldErrors.map((f) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['accountId', 'amount', 'metadata', 'extra']));
  });

  it('refuses to run alongside an asynchronous constraint, which validateSync would skip', () => {
    expect(() => assertNoAsyncConstraints()).not.toThrow();
    @ValidatorConstraint({ name: 'lookedUpElsewhere', async: true })
    class LookedUpElsewhere implements ValidatorConstraintInterface {
      validate(): Promise<boolean> {
        return Promise.resolve(true);
      }
    }
    const storage = getMetadataStorage() as unknown as { constraintMetadatas: Map<unknown, unknown> };
    try {
      expect(() => assertNoAsyncConstraints()).toThrow(/lookedUpElsewhere is asynchronous/);
    } finally {
      storage.constraintMetadatas.delete(LookedUpElsewhere);
    }
    expect(() => assertNoAsyncConstraints()).not.toThrow();
  });
});
