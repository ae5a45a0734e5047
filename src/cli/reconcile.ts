import { INestApplicationContext } from '@nestjs/common';
import { CliError } from './cli-error';

/** What one reconciliation pass reports; printed as-is with --json, one `key: value` per line otherwise. */
export type ReconcilePassSummary = Record<string, string | number | boolean | null>;

/**
 * `npm run cli -- reconcile`: runs ONE reconciliation pass and returns its summary.
 *
 * WIRE HERE: reconciliation is being built separately. Once it exists, resolve its use case from
 * `app` (and add its module to CliModule's imports), run a single pass and return its counts.
 */
export async function runReconcilePass(_app: INestApplicationContext): Promise<ReconcilePassSummary> {
  throw new CliError('reconcile is not available yet: the reconciliation pass has not been wired into the CLI; nothing was done');
}
