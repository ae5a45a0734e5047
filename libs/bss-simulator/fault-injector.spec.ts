import { createSeededRandom, FaultInjector, parseFaultRules } from './fault-injector';

describe('FaultInjector', () => {
  it('applies to ChangeResellerConsumeAmount by default and uses up counted rules', () => {
    const faults = new FaultInjector(Math.random);
    faults.add([{ fault: 'throttle', count: 2 }]);
    expect(faults.take({ action: 'QueryResellerAvailableQuota', ownerId: '1', repeat: false })).toBeUndefined();
    expect(faults.take({ action: 'ChangeResellerConsumeAmount', ownerId: '1', repeat: false })?.fault).toBe('throttle');
    expect(faults.list()).toEqual([{ fault: 'throttle', count: 1 }]);
    expect(faults.take({ action: 'ChangeResellerConsumeAmount', ownerId: '1', repeat: false })?.fault).toBe('throttle');
    expect(faults.take({ action: 'ChangeResellerConsumeAmount', ownerId: '1', repeat: false })).toBeUndefined();
  });

  it('filters on ownerId and matches any action with "*"', () => {
    const faults = new FaultInjector(Math.random);
    faults.add([{ fault: 'notAuthorized', action: '*', ownerId: '42' }]);
    expect(faults.take({ action: 'QueryAccountBalance', ownerId: undefined, repeat: false })).toBeUndefined();
    expect(faults.take({ action: 'QueryResellerAvailableQuota', ownerId: '42', repeat: false })?.fault).toBe(
      'notAuthorized',
    );
  });

  it('draws probabilities from the seeded RNG, so a seed replays the same pattern', () => {
    const pattern = (seed: number) => {
      const faults = new FaultInjector(createSeededRandom(seed));
      faults.add([{ fault: 'error5xx', probability: 0.5 }]);
      return Array.from({ length: 20 }, () =>
        faults.take({ action: 'ChangeResellerConsumeAmount', ownerId: '1', repeat: false }) ? 'x' : '.',
      ).join('');
    };
    expect(pattern(7)).toBe(pattern(7));
    expect(pattern(7)).toMatch(/x/);
    expect(pattern(7)).toMatch(/\./);
  });

  it('limits a rule to repeats of an applied OutBizId (repeat: true) or to first sends (repeat: false); repeatOutBizId only ever matches repeats', () => {
    const faults = new FaultInjector(Math.random);
    faults.add([
      { fault: 'repeatOutBizId', answer: 'fresh' },
      { fault: 'notAuthorized', repeat: false },
    ]);
    const first = { action: 'ChangeResellerConsumeAmount', ownerId: '1', repeat: false };
    const repeat = { ...first, repeat: true };
    expect(faults.take(first)?.fault).toBe('notAuthorized');
    expect(faults.take(repeat)).toMatchObject({ fault: 'repeatOutBizId', answer: 'fresh' });
    faults.clear();
    faults.add([{ fault: 'reject', code: 'InternalError', repeat: true }]);
    expect(faults.take(first)).toBeUndefined();
    expect(faults.take(repeat)).toMatchObject({ fault: 'reject', code: 'InternalError' });
  });

  it.each([
    [{ fault: 'reject' }, /reject needs code/],
    [{ fault: 'reject', code: 'InvalidParameter' }, /reject needs code/],
    [{ fault: 'reject', code: '-1101', status: 200 }, /4xx or 5xx/],
    [{ fault: 'repeatOutBizId' }, /needs answer/],
    [{ fault: 'repeatOutBizId', answer: 'error', code: 'Nope' }, /code must be one of/],
    [{ fault: 'repeatOutBizId', answer: 'first', repeat: false }, /only applies to repeats/],
    [{ fault: 'notAuthorized', repeat: 'yes' }, /repeat must be a boolean/],
    [{ fault: 'explode' }, /fault must be one of/],
    [{ fault: 'delay' }, /delay needs delayMs/],
    [{ fault: 'throttle', count: 0 }, /count must be a positive integer/],
    [{ fault: 'throttle', probability: 2 }, /probability/],
    [{ fault: 'error5xx', status: 404 }, /5xx/],
    [{ fault: 'throttle', ownerId: 42 }, /ownerId must be a string/],
    ['throttle', /must be an object/],
  ])('rejects %p', (rule, message) => {
    expect(() => parseFaultRules(rule)).toThrow(message);
  });
});
