import { Clock } from '../../../libs/shared/clock';

/** A clock that moves only when told to. */
export class FixedClock extends Clock {
  constructor(private current = new Date('2026-12-03T10:00:00.000Z')) {
    super();
  }

  now(): Date {
    return new Date(this.current.getTime());
  }

  advance(ms: number): Date {
    this.current = new Date(this.current.getTime() + ms);
    return this.now();
  }
}
