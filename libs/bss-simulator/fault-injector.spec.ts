import { createSeededRandom, FaultInjector, parseFaultRules } from './fault-injector';

describe('FaultInjector', () => {
  it('applies to ChangeResellerConsumeAmount by default and uses up counted rules', () => {
    const faults = new FaultInjector(Math.random);
    faults.add([{ fault: 'throttle', count: 2 }]);
    expect(faults.take('QueryResellerAvailableQuota', '1')).toBeUndefined();
    expect(faults.take('ChangeResellerConsumeAmount', '1')?.fault).toBe('throttle');
    expect(faults.list()).toEqual([{ fault: 'throttle', count: 1 }]);
    expect(faults.take('ChangeResellerConsumeAmount', '1')?.fault).toBe('throttle');
    expect(faults.take('ChangeResellerConsumeAmount', '1')).toBeUndefined();
  });

  it('filters on ownerId and matches any action with "*"', () => {
    const faults = new FaultInjector(Math.random);
    faults.add([{ fault: 'notAuthorized', action: '*', ownerId: '42' }]);
    expect(faults.take('QueryAccountBalance', undefined)).toBeUndefined();
    expect(faults.take('QueryResellerAvailableQuota', '42')?.fault).toBe('notAuthorized');
  });

  it('draws probabilities from the seeded RNG, so a seed replays the same pattern', () => {
    const pattern = (seed: number) => {
      const faults = new FaultInjector(createSeededRandom(seed));
      faults.add([{ fault: 'error5xx', probability: 0.5 }]);
      return Array.from({ length: 20 }, () => (faults.take('ChangeResellerConsumeAmount', '1') ? 'x' : '.')).join('');
    };
    expect(pattern(7)).toBe(pattern(7));
    expect(pattern(7)).toMatch(/x/);
    expect(pattern(7)).toMatch(/\./);
  });

  it.each([
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
