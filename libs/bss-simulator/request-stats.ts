/**
 * What the simulator saw, for assertions and the benchmark: counts per Action and outcome, and the
 * peak arrival rate, so a test can prove the service never exceeded the provider's rate limit.
 */
export interface SimulatorStats {
  /** Requests received per Action (including ones later rejected). */
  requests: Record<string, number>;
  /** Answers per outcome over all actions: 'success', 'replayed', 'dropped' or the error Code. */
  outcomes: Record<string, number>;
  /** outcomes broken down per Action. */
  outcomesByAction: Record<string, Record<string, number>>;
  totalRequests: number;
  /** ChangeResellerConsumeAmount requests received in the busiest sliding 1000 ms window. */
  maxRequestsPerSecond: number;
  /** ChangeResellerConsumeAmount requests received in the busiest calendar second. */
  maxRequestsPerCalendarSecond: number;
  maxRequestsPerSecondAllActions: number;
  maxRequestsPerCalendarSecondAllActions: number;
  notifications: { delivered: number; failed: number };
}

const RATE_TRACKED_ACTION = 'ChangeResellerConsumeAmount';

/** Peak arrivals measured two ways: any sliding 1000 ms window (strict) and per calendar second. */
export class PeakRate {
  peakSliding = 0;
  peakCalendar = 0;
  private recent: number[] = [];
  private second = -1;
  private inSecond = 0;

  /** monotonicMs drives the sliding window (immune to clock steps); wallMs defines calendar seconds. */
  record(monotonicMs: number, wallMs: number): void {
    // A window is [t, t + 1000): an arrival exactly 1000 ms later starts a new window.
    while (this.recent.length > 0 && this.recent[0]! <= monotonicMs - 1000) this.recent.shift();
    this.recent.push(monotonicMs);
    this.peakSliding = Math.max(this.peakSliding, this.recent.length);

    const second = Math.floor(wallMs / 1000);
    this.inSecond = second === this.second ? this.inSecond + 1 : 1;
    this.second = second;
    this.peakCalendar = Math.max(this.peakCalendar, this.inSecond);
  }
}

export class RequestStats {
  private requests: Record<string, number> = {};
  private outcomes: Record<string, number> = {};
  private outcomesByAction: Record<string, Record<string, number>> = {};
  private total = 0;
  private trackedRate = new PeakRate();
  private allRate = new PeakRate();
  private notifications = { delivered: 0, failed: 0 };

  constructor(private readonly clock = { monotonic: () => performance.now(), wall: () => Date.now() }) {}

  /** `at`: when the request arrived, if taken earlier than now (before its body was read). */
  arrived(action: string, at?: { monotonic: number; wall: number }): void {
    this.total += 1;
    this.requests[action] = (this.requests[action] ?? 0) + 1;
    const monotonic = at?.monotonic ?? this.clock.monotonic();
    const wall = at?.wall ?? this.clock.wall();
    this.allRate.record(monotonic, wall);
    if (action === RATE_TRACKED_ACTION) this.trackedRate.record(monotonic, wall);
  }

  answered(action: string, outcome: string): void {
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    const perAction = (this.outcomesByAction[action] ??= {});
    perAction[outcome] = (perAction[outcome] ?? 0) + 1;
  }

  notification(delivered: boolean): void {
    this.notifications[delivered ? 'delivered' : 'failed'] += 1;
  }

  snapshot(): SimulatorStats {
    return {
      requests: { ...this.requests },
      outcomes: { ...this.outcomes },
      outcomesByAction: Object.fromEntries(Object.entries(this.outcomesByAction).map(([k, v]) => [k, { ...v }])),
      totalRequests: this.total,
      maxRequestsPerSecond: this.trackedRate.peakSliding,
      maxRequestsPerCalendarSecond: this.trackedRate.peakCalendar,
      maxRequestsPerSecondAllActions: this.allRate.peakSliding,
      maxRequestsPerCalendarSecondAllActions: this.allRate.peakCalendar,
      notifications: { ...this.notifications },
    };
  }
}
