import { Injectable } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { DomainError, FieldError } from '../../../libs/shared/domain-error';
import { newId } from '../../../libs/shared/ids';
import { Client } from '../../clients/domain/client';
import { OperatorActionRecord } from '../../recharge/application/ports/operator-action';
import { Page } from '../../recharge/application/ports/page';
import { callbackUrlProblem, RechargePolicy } from '../../recharge/application/recharge-policy';
import { isCurrency } from '../../recharge/domain/money';
import { resolveSpec, Rule, RuleDraft, RuleSpec, RuleStatus } from '../domain/rule';
import { EvaluationRecord, RuleRepository, RuleView } from './ports/rule.repository';

/** A PATCH body: any field of the rule, and the status a client may set. */
export type RulePatch = Partial<RuleDraft> & { status?: 'active' | 'paused' };

export const ruleNotFound = (id: string) => new DomainError('NOT_FOUND', `rule ${id} not found`);

/**
 * The rules API for one client. Authorization and policy are the recharge's (the client's accounts,
 * the currencies, MAX_RECHARGE_AMOUNT, the callback hosts); another client's rule is 404.
 */
@Injectable()
export class ManageRulesUseCase {
  constructor(
    private readonly rules: RuleRepository,
    private readonly policy: RechargePolicy,
    private readonly clock: Clock,
  ) {}

  async create(client: Client, draft: RuleDraft): Promise<RuleView> {
    const spec = this.check(client, draft);
    const rule = Rule.create(newId('rul'), client.id, spec, this.clock.now());
    await this.rules.create(rule);
    return { rule, lastEvaluation: null };
  }

  async get(client: Client, id: string): Promise<RuleView> {
    const view = await this.rules.find(id);
    if (!view || view.rule.clientId !== client.id) throw ruleNotFound(id);
    return view;
  }

  async list(
    client: Client,
    q: { accountId?: string; status?: RuleStatus; limit: number; after?: string },
  ): Promise<Page<RuleView>> {
    if (q.accountId !== undefined) this.authorize(client, q.accountId);
    return this.rules.list({ clientId: client.id, ...q });
  }

  async update(client: Client, id: string, patch: RulePatch): Promise<RuleView> {
    const current = await this.get(client, id);
    const { status, ...fields } = patch;
    const s = current.rule.spec;
    const merged: RuleDraft = {
      accountId: s.accountId,
      currency: s.currency,
      trigger: s.trigger,
      topUp: s.topUp,
      limits: s.limits,
      cooldownSeconds: s.cooldownSeconds,
      // A new trigger type brings its own defaults rather than the old type's interval.
      checkIntervalSeconds:
        fields.trigger && fields.trigger.type !== s.trigger.type ? undefined : (s.checkIntervalSeconds ?? undefined),
      callbackUrl: s.callbackUrl,
      dryRun: s.dryRun,
      ...fields,
    };
    const spec = this.check(client, merged);
    const rule = await this.rules.update(id, (r) => {
      if (r.clientId !== client.id) throw ruleNotFound(id);
      r.change(spec, status, this.clock.now());
    });
    if (!rule) throw ruleNotFound(id);
    return { rule, lastEvaluation: current.lastEvaluation };
  }

  async delete(client: Client, id: string): Promise<void> {
    await this.get(client, id);
    const rule = await this.rules.update(id, (r) => r.delete(this.clock.now()));
    if (!rule) throw ruleNotFound(id);
  }

  async evaluations(client: Client, id: string, limit: number, before?: string): Promise<Page<EvaluationRecord>> {
    await this.get(client, id);
    return this.rules.evaluations(id, limit, before);
  }

  /** Operators (CLI): every client's rules. */
  listAll(q: { clientId?: string; accountId?: string; status?: RuleStatus; limit: number; after?: string }) {
    return this.rules.list(q);
  }

  /**
   * Operators (CLI, admin API): pause or resume any client's rule, with the same effects as the
   * client's PATCH. With an audit record (the admin API) the action is recorded in the same
   * transaction, and one that would change nothing is refused (INVALID_STATE) rather than recorded.
   */
  async setStatus(id: string, status: 'active' | 'paused', audit?: OperatorActionRecord): Promise<RuleView> {
    const current = await this.rules.find(id);
    if (!current) throw ruleNotFound(id);
    const rule = await this.rules.update(
      id,
      (r) => {
        if (audit && r.status === status) throw new DomainError('INVALID_STATE', `rule ${id} is already ${status}`);
        r.change(r.spec, status, this.clock.now());
      },
      audit,
    );
    if (!rule) throw ruleNotFound(id);
    return { rule, lastEvaluation: current.lastEvaluation };
  }

  private authorize(client: Client, accountId: string): void {
    if (!client.mayAccess(accountId)) {
      throw new DomainError('UNAUTHORIZED', `this client may not recharge account ${accountId}`);
    }
  }

  private check(client: Client, draft: RuleDraft): RuleSpec {
    this.authorize(client, draft.accountId);
    const errors: FieldError[] = [];
    if (!isCurrency(draft.currency) || !this.policy.supportedCurrencies.includes(draft.currency)) {
      errors.push({
        field: 'currency',
        message: `currency must be one of ${this.policy.supportedCurrencies.join(', ')}`,
      });
    }
    // The same check as a recharge's: user info refused, the host in CALLBACK_ALLOWED_HOSTS.
    const callbackProblem = draft.callbackUrl
      ? callbackUrlProblem(draft.callbackUrl, this.policy.callbackAllowedHosts)
      : null;
    if (callbackProblem) errors.push(callbackProblem);
    if (errors.length > 0) throw new DomainError('INVALID_ARGUMENT', 'the rule is invalid', errors);
    return resolveSpec(draft, BigInt(this.policy.maxRechargeAmount));
  }
}
