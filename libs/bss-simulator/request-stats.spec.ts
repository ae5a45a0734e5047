import { FlowControl } from './flow-control';
import { PeakRate, RequestStats } from './request-stats';

describe('PeakRate', () => {
  it('counts the busiest sliding 1000 ms window, which may straddle calendar seconds', () => {
    const peak = new PeakRate();
    // 3 arrivals late in one second and 3 early in the next: 6 within 200 ms, never more than 3 per calendar second.
    for (const t of [10_900, 10_950, 10_999, 11_000, 11_050, 11_100]) peak.record(t, t);
    expect(peak.peakSliding).toBe(6);
    expect(peak.peakCalendar).toBe(3);
  });

  it('treats an arrival exactly 1000 ms later as a new window', () => {
    const peak = new PeakRate();
    for (const t of [0, 500, 1000, 1500, 2000]) peak.record(t, t);
    expect(peak.peakSliding).toBe(2);
  });
});

describe('RequestStats', () => {
  it('tracks ChangeResellerConsumeAmount separately from all actions', () => {
    let now = 0;
    const stats = new RequestStats({ monotonic: () => now, wall: () => now });
    for (let i = 0; i < 4; i++) {
      stats.arrived('ChangeResellerConsumeAmount');
      stats.arrived('QueryResellerAvailableQuota');
      now += 100;
    }
    stats.answered('ChangeResellerConsumeAmount', 'success');
    stats.answered('ChangeResellerConsumeAmount', 'Throttling.User');
    const snapshot = stats.snapshot();
    expect(snapshot).toMatchObject({
      requests: { ChangeResellerConsumeAmount: 4, QueryResellerAvailableQuota: 4 },
      outcomes: { success: 1, 'Throttling.User': 1 },
      outcomesByAction: { ChangeResellerConsumeAmount: { success: 1, 'Throttling.User': 1 } },
      totalRequests: 8,
      maxRequestsPerSecond: 4,
      maxRequestsPerSecondAllActions: 8,
    });
  });
});

describe('FlowControl', () => {
  it('admits at most N calls in any 1000 ms per caller and Action, and says when to retry', () => {
    const flow = new FlowControl((action) => (action === 'Slow' ? 2 : 0));
    expect(flow.tryAdmit('ak', 'Slow', 0)).toBeUndefined();
    expect(flow.tryAdmit('ak', 'Slow', 400)).toBeUndefined();
    expect(flow.tryAdmit('ak', 'Slow', 999)).toBe(1);
    expect(flow.tryAdmit('other-ak', 'Slow', 999)).toBeUndefined();
    expect(flow.tryAdmit('ak', 'Slow', 1000)).toBeUndefined();
    expect(flow.tryAdmit('ak', 'Slow', 1001)).toBe(399);
    // Rate 0: flow control off.
    for (let i = 0; i < 100; i++) expect(flow.tryAdmit('ak', 'Fast', 0)).toBeUndefined();
  });
});
