import { DomainError } from '../../../../libs/shared/domain-error';
import { OperatorActionRecord } from '../../../recharge/application/ports/operator-action';

/** Which rules an operator lists (every client's unless clientId is given); `after` is exclusive. */
export interface OperatorRulesQuery {
  accountId?: string;
  clientId?: string;
  status?: 'active' | 'paused' | 'disabled';
  limit: number;
  after?: string;
}

/**
 * The auto-recharge rules as an operator sees them: every client's, each as the client API shows
 * it plus its clientId. Without the rules feature the module binds NoAccountRules.
 */
export abstract class AccountRules {
  /** Every rule of the account that is not deleted, any status, newest first. */
  abstract forAccount(accountId: string): Promise<Array<Record<string, unknown>>>;
  /** `nextCursor` is the id of the last rule of the page (the caller makes it opaque). */
  abstract list(
    query: OperatorRulesQuery,
  ): Promise<{ data: Array<Record<string, unknown>>; nextCursor: string | null }>;
  /**
   * Pauses or resumes the rule with the effects of the client's own PATCH, recording `audit` in the
   * same transaction. NOT_FOUND for an unknown or deleted rule; INVALID_STATE when nothing would change.
   */
  abstract setStatus(
    ruleId: string,
    status: 'active' | 'paused',
    audit: OperatorActionRecord,
  ): Promise<Record<string, unknown>>;
}

export class NoAccountRules extends AccountRules {
  async forAccount(): Promise<Array<Record<string, unknown>>> {
    return [];
  }

  async list(): Promise<{ data: Array<Record<string, unknown>>; nextCursor: string | null }> {
    return { data: [], nextCursor: null };
  }

  async setStatus(ruleId: string): Promise<Record<string, unknown>> {
    throw new DomainError('NOT_FOUND', `rule ${ruleId} not found`);
  }
}
