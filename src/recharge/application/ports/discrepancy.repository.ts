import { Discrepancy, DiscrepancyKind } from '../../domain/discrepancy';
import { Page } from './page';

export interface DiscrepancyQuery {
  status?: 'open' | 'acknowledged';
  rechargeId?: string;
  kind?: DiscrepancyKind;
  limit: number;
  /** Exclusive: the id of the last item of the previous page (newest first). */
  after?: string;
}

/**
 * The operators' list of discrepancies. New ones are written by the recharge repository in the
 * same transaction as the recharge change that found them (Recharge.noteDiscrepancy); this port
 * reads them and records acknowledgements.
 */
export abstract class DiscrepancyRepository {
  abstract list(query: DiscrepancyQuery): Promise<Page<Discrepancy>>;
  abstract findById(id: string): Promise<Discrepancy | null>;
  /**
   * Marks it acknowledged once; acknowledging again changes nothing and returns the stored one.
   * Null when there is no such discrepancy.
   */
  abstract acknowledge(id: string, by: string, note: string, at: Date): Promise<Discrepancy | null>;
  abstract countOpen(): Promise<number>;
}
