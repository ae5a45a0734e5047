/** Time is a dependency so tests can move it; the abstract class doubles as the DI token. */
export abstract class Clock {
  abstract now(): Date;
}

export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }
}
