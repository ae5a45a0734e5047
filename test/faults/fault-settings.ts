import { randomInt } from 'node:crypto';

/**
 * Sizes and seeds of the randomized fault suite. One seed drives everything random in a run, so a
 * failure replays with `FAULT_SEED=<seed> npm run test:faults` (the seed is printed at the start).
 *
 * Seeds: FAULT_SEED when set; otherwise a fresh random seed under `npm run test:faults` (npm sets
 * npm_lifecycle_event) or FAULT_FULL=1, which explores, and the suite's own fixed seed inside
 * `npm test` / `npx jest`, so CI runs the same plan every time.
 *
 * Sizes: FAULT_RECHARGES / FAULT_RUNS when set; otherwise the full size under
 * `npm run test:faults` or FAULT_FULL=1, and the short size that keeps the suite under a minute
 * inside `npm test` / `npx jest`.
 */
export function faultSeed(fixed: number): number {
  const raw = process.env.FAULT_SEED;
  if (raw === undefined || raw === '') return fullRun() ? randomInt(1, 2 ** 31 - 1) : fixed;
  if (!/^-?\d+$/.test(raw.trim())) throw new Error(`FAULT_SEED must be an integer, got "${raw}"`);
  return Number(raw.trim()) | 0;
}

export function fullRun(): boolean {
  return (
    process.env.npm_lifecycle_event === 'test:faults' ||
    process.env.FAULT_FULL === '1' ||
    process.env.FAULT_FULL === 'true'
  );
}

/** A positive integer from the environment, else the full or the short default. */
export function sized(name: string, full: number, short: number): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
    return n;
  }
  return fullRun() ? full : short;
}

/** mulberry32, the simulator's PRNG: the same seed gives the same sequence in every run. */
export function seededRandom(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!,
    shuffle: <T>(items: readonly T[]): T[] => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
}
