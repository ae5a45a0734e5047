import { Injectable } from '@nestjs/common';
import { OperatorActionRecord } from '../../recharge/application/ports/operator-action';
import { ManageRulesUseCase } from '../../rules/application/manage-rules.use-case';
import { RuleRepository, RuleView } from '../../rules/application/ports/rule.repository';
import { presentRuleView } from '../../rules/application/rule.representation';
import { AccountRules, OperatorRulesQuery } from '../application/ports/account-rules';

/** An account holds a handful of rules (one active per client and currency); this bounds a runaway. */
const ACCOUNT_RULES_MAX = 500;
const PAGE = 100;

const present = (v: RuleView) => ({ ...presentRuleView(v), clientId: v.rule.clientId });

/** The operators' view of the rules, through the rules feature's own repository and use case. */
@Injectable()
export class RuleRepositoryAccountRules extends AccountRules {
  constructor(
    private readonly rules: RuleRepository,
    private readonly manage: ManageRulesUseCase,
  ) {
    super();
  }

  async forAccount(accountId: string): Promise<Array<Record<string, unknown>>> {
    const all: Array<Record<string, unknown>> = [];
    let after: string | undefined;
    do {
      const page = await this.rules.list({ accountId, limit: PAGE, after });
      all.push(...page.data.map(present));
      after = page.nextCursor ?? undefined;
    } while (after !== undefined && all.length < ACCOUNT_RULES_MAX);
    return all;
  }

  async list(query: OperatorRulesQuery) {
    const page = await this.rules.list(query);
    return { data: page.data.map(present), nextCursor: page.nextCursor };
  }

  async setStatus(ruleId: string, status: 'active' | 'paused', audit: OperatorActionRecord) {
    return present(await this.manage.setStatus(ruleId, status, audit));
  }
}
