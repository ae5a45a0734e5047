import { INestApplicationContext } from '@nestjs/common';
import { ReconcileUseCase } from '../recharge/application/reconcile.use-case';
import { CliError } from './cli-error';

/** What one reconciliation pass reports; printed as-is with --json, one `key: value` per line otherwise. */
export type ReconcilePassSummary = Record<string, string | number | boolean | null>;

/** `npm run cli -- reconcile`: one reconciliation pass now, the same code the scheduler runs. */
export async function runReconcilePass(app: INestApplicationContext): Promise<ReconcilePassSummary> {
  const report = await app.get(ReconcileUseCase).runOnce();
  if (report.outcome === 'failed') throw new CliError(`reconciliation pass ${report.runId} failed: ${report.error}`);
  return { ...report };
}
