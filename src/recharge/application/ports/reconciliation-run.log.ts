export interface ReconciliationCounts {
  redriven: number;
  expired: number;
  notificationsApplied: number;
  orphansMatched: number;
  orphansOpen: number;
  discrepancies: number;
}

/** Each reconciliation pass leaves a row operators can read (started, finished, counts, error). */
export abstract class ReconciliationRunLog {
  abstract start(id: string, at: Date): Promise<void>;
  abstract finish(
    id: string,
    at: Date,
    outcome: 'succeeded' | 'failed',
    counts: ReconciliationCounts,
    error: string | null,
  ): Promise<void>;
}
