import { ACCOUNT_ID_PATTERN, ACCOUNT_ID_RULE } from '../../libs/shared/account-id';
import { Readable } from 'node:stream';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiProblems, OPERATOR_AUTH } from '../api/openapi';
import type { FastifyReply } from 'fastify';
import { Clock } from '../../libs/shared/clock';
import { DomainError } from '../../libs/shared/domain-error';
import { ID_PATTERN } from '../../libs/shared/ids';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { PrometheusTelemetry } from '../observability/prometheus-telemetry';
import { Operator } from '../operators/domain/operator';
import { ALL_STATES, RechargeState, STATUS_OF, STATUSES, statesOfStatus } from '../recharge/domain/recharge-state';
import { RechargeNotFoundError } from '../recharge/domain/recharge.errors';
import { decodeCursor, encodeCursor } from '../api/cursor';
import { AccountViewUseCase } from './application/account-view.use-case';
import { AccountRules } from './application/ports/account-rules';
import { OperatorActionsUseCase } from './application/operator-actions.use-case';
import { AdminReadModel, LedgerCsvRow } from './application/ports/admin-read-model';
import {
  chartSeries,
  csvField,
  csvLine,
  LEDGER_CSV_COLUMNS,
  presentAdminRecharge,
  presentDiscrepancy,
  presentStory,
} from './admin.presenter';
import {
  ACCOUNT_ID,
  AcknowledgeDto,
  ActionDto,
  DiscrepanciesQuery,
  LedgerCsvQuery,
  OperatorRulesQuery,
  ResolveDto,
  RuleActionDto,
  SearchRechargesQuery,
} from './dto/admin.dto';
import {
  AccountViewDto,
  AcknowledgedDto,
  AdminRechargeDto,
  AdminRechargePageDto,
  AdminSummaryDto,
  DiscrepancyPageDto,
  OperatorMeDto,
  RechargeStoryDto,
  RedeliveryDto,
  AdminRuleDto,
  AdminRulePageDto,
} from './dto/admin.response';
import { CurrentOperator, OperatorGuard } from './operator.guard';

const RECHARGE_ID = ID_PATTERN('rch');
const RULE_ID = ID_PATTERN('rul');
const DISCREPANCY_ID = /^dsc_[0-9a-f]{32}$/;
const DAY_MS = 24 * 3600_000;
const CHART_HOURS = 3;
const PROVIDER_WINDOW_MS = 15 * 60_000;
const CIRCUIT = ['closed', 'half_open', 'open'] as const;
const CSV_PAGE = 5000;

/**
 * The admin API for operators (Authorization: Bearer op_…). Reads are open to viewers and
 * operators; every POST is an action that only the operator role may take, recorded in
 * operator_actions with its reason.
 */
@ApiTags('admin')
@ApiBearerAuth(OPERATOR_AUTH)
@ApiProblems(401)
@UseGuards(OperatorGuard)
@Controller('admin/v1')
export class AdminController {
  constructor(
    private readonly reads: AdminReadModel,
    private readonly actions: OperatorActionsUseCase,
    private readonly accounts: AccountViewUseCase,
    private readonly rules: AccountRules,
    private readonly prometheus: PrometheusTelemetry,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('me')
  @ApiOperation({ summary: 'Who the token belongs to (the console shows actions only to the operator role)' })
  @ApiResponse({ status: 200, type: OperatorMeDto })
  me(@CurrentOperator() operator: Operator) {
    return { operatorId: operator.id, name: operator.name, role: operator.role, mayAct: operator.mayAct() };
  }

  @Get('summary')
  @ApiOperation({ summary: "The overview's figures and the chart of the last hours" })
  @ApiResponse({ status: 200, type: AdminSummaryDto })
  async summary() {
    const now = this.clock.now();
    const chartSince = new Date(Math.floor(now.getTime() / 60_000) * 60_000 - CHART_HOURS * 3600_000);
    const figures = await this.reads.summary({
      now,
      since: new Date(now.getTime() - DAY_MS),
      slaBefore: new Date(now.getTime() - this.config.reconcileAfterMs),
      providerSince: new Date(now.getTime() - PROVIDER_WINDOW_MS),
      chartSince,
    });
    const byState = Object.fromEntries(ALL_STATES.map((s) => [s, figures.byState[s] ?? 0])) as Record<
      RechargeState,
      number
    >;
    const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<(typeof STATUSES)[number], number>;
    for (const s of ALL_STATES) byStatus[STATUS_OF[s]] += byState[s];
    const circuitValue = (await this.prometheus.circuit.get()).values[0]?.value ?? 0;
    const budget = this.config.providerMaxRps * 60;
    return {
      at: now.toISOString(),
      since: new Date(now.getTime() - DAY_MS).toISOString(),
      byStatus,
      byState,
      pendingBeyondSla: figures.pendingBeyondSla,
      slaSeconds: Math.round(this.config.reconcileAfterMs / 1000),
      openDiscrepancies: figures.openDiscrepancies,
      provider: {
        windowSeconds: PROVIDER_WINDOW_MS / 1000,
        calls: figures.providerCalls,
        errors: figures.providerErrors,
        errorRate: figures.providerCalls === 0 ? 0 : figures.providerErrors / figures.providerCalls,
        // The circuit breaker is per replica: this is the one that answered.
        circuit: CIRCUIT[circuitValue] ?? 'closed',
      },
      rateBudget: {
        limitPerSecond: this.config.providerMaxRps,
        callsLastMinute: figures.providerCallsLastMinute,
        inUse: Math.min(1, figures.providerCallsLastMinute / budget),
      },
      callbacksWaiting: figures.callbacksWaiting,
      chart: { hours: CHART_HOURS, ...chartSeries(figures.chart, chartSince, now) },
    };
  }

  @Get('recharges')
  @ApiOperation({ summary: "Search every client's recharges, newest first (keyset paging)" })
  @ApiResponse({ status: 200, type: AdminRechargePageDto })
  @ApiProblems(400)
  async search(@Query() q: SearchRechargesQuery) {
    let states: RechargeState[] | undefined = q.status ? statesOfStatus(q.status) : undefined;
    if (q.state) states = states ? states.filter((s) => s === q.state) : [q.state];
    const createdFrom = q.createdFrom ? new Date(q.createdFrom) : undefined;
    const createdTo = q.createdTo ? new Date(q.createdTo) : undefined;
    if (createdFrom && createdTo && createdFrom >= createdTo)
      throw invalid('createdTo', 'createdTo must be after createdFrom');
    const limit = q.limit ?? 25;
    if (states && states.length === 0) return { data: [], nextCursor: null };
    const page = await this.reads.search({
      states,
      clientId: q.clientId,
      accountId: q.accountId,
      createdFrom,
      createdTo,
      q: q.q,
      limit,
      after: decodeRechargeCursor(q.cursor),
    });
    return {
      data: page.data.map(presentAdminRecharge),
      nextCursor: page.next ? encode([page.next.createdAt, page.next.id]) : null,
    };
  }

  @Get('recharges/:id')
  @ApiOperation({
    summary:
      'A recharge with its whole story: events, provider calls, notifications, callbacks, ledger, discrepancies, operator actions',
  })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: RechargeStoryDto })
  @ApiProblems(404)
  async detail(@Param('id') id: string) {
    const story = await this.reads.story(checkRechargeId(id));
    if (!story) throw new RechargeNotFoundError(id);
    return presentStory(story);
  }

  @Post('recharges/:id/resolve')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Settle PENDING_CONFIRMATION or FAILED/TIMEOUT as succeeded or not_applied (operator role; 409 otherwise)',
  })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, description: 'the recharge as resolved', type: AdminRechargeDto })
  @ApiProblems(400, 403, 404, 409, 413, 415)
  async resolve(@CurrentOperator() operator: Operator, @Param('id') id: string, @Body() body: ResolveDto) {
    const recharge = await this.actions.resolve(
      operator,
      checkRechargeId(id),
      body.outcome,
      body.reason,
      body.providerReference ?? null,
    );
    return presentAdminRecharge(recharge);
  }

  @Post('recharges/:id/redrive')
  @HttpCode(200)
  @ApiOperation({ summary: 'Re-send now with the same OutBizId (SUBMITTED or PENDING_CONFIRMATION; 409 otherwise)' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: AdminRechargeDto })
  @ApiProblems(400, 403, 404, 409, 413, 415)
  async redrive(@CurrentOperator() operator: Operator, @Param('id') id: string, @Body() body: ActionDto | undefined) {
    const recharge = await this.actions.redrive(operator, checkRechargeId(id), body?.reason ?? 're-drive requested');
    return presentAdminRecharge(recharge);
  }

  @Post('recharges/:id/callbacks/redeliver')
  @HttpCode(200)
  @ApiOperation({ summary: 'Deliver the latest callback again (same webhook-id)' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: RedeliveryDto })
  @ApiProblems(400, 403, 404, 409, 413, 415)
  async redeliver(@CurrentOperator() operator: Operator, @Param('id') id: string, @Body() body: ActionDto | undefined) {
    const delivery = await this.actions.redeliverCallback(
      operator,
      checkRechargeId(id),
      body?.reason ?? 'redelivery requested',
    );
    return { rechargeId: id, ...delivery, status: 'pending' };
  }

  @Get('discrepancies')
  @ApiOperation({ summary: 'Discrepancies, open or acknowledged, newest first' })
  @ApiResponse({ status: 200, type: DiscrepancyPageDto })
  @ApiProblems(400)
  async discrepancies(@Query() q: DiscrepanciesQuery) {
    const after = q.cursor ? decodeTuple(q.cursor) : undefined;
    if (after && (Number.isNaN(Date.parse(after[0])) || !DISCREPANCY_ID.test(after[1])))
      throw invalid('cursor', 'cursor is not valid');
    const page = await this.reads.discrepancies(
      q.status ?? 'open',
      q.limit ?? 25,
      after ? { seenAt: new Date(after[0]), id: after[1] } : undefined,
    );
    return {
      data: page.data.map(presentDiscrepancy),
      nextCursor: page.next ? encode([page.next.seenAt.toISOString(), page.next.id]) : null,
    };
  }

  @Post('discrepancies/:id/acknowledge')
  @HttpCode(200)
  @ApiOperation({ summary: 'Acknowledge a discrepancy with a note (operator role; 409 if already acknowledged)' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: AcknowledgedDto })
  @ApiProblems(400, 403, 404, 409, 413, 415)
  async acknowledge(@CurrentOperator() operator: Operator, @Param('id') id: string, @Body() body: AcknowledgeDto) {
    if (!DISCREPANCY_ID.test(id)) throw new DomainError('NOT_FOUND', `discrepancy ${id} not found`);
    await this.actions.acknowledgeDiscrepancy(operator, id, body.note.trim());
    return { id, acknowledged: true };
  }

  @Get('accounts/:accountId')
  @ApiOperation({ summary: 'Ledger balance, live provider quota (cached ≤ 30 s), rules and recent recharges' })
  @ApiParam({ name: 'accountId', schema: { type: 'string', pattern: ACCOUNT_ID_PATTERN.source } })
  @ApiResponse({ status: 200, type: AccountViewDto })
  @ApiProblems(400)
  async account(@Param('accountId') accountId: string) {
    if (!ACCOUNT_ID.test(accountId)) throw invalid('accountId', `accountId must be ${ACCOUNT_ID_RULE}`);
    const view = await this.accounts.view(accountId);
    return {
      accountId,
      balances: view.balances.map((b) => ({ currency: b.currency, amount: Number(b.amount) })),
      providerQuota: view.providerQuota && {
        amount: Number(view.providerQuota.amount),
        currency: view.providerQuota.currency,
        at: view.providerQuota.at.toISOString(),
      },
      providerQuotaError: view.providerQuotaError,
      rules: view.rules,
      recentRecharges: view.recentRecharges.map(presentAdminRecharge),
    };
  }

  @Get('rules')
  @ApiOperation({ summary: "Every client's auto-recharge rules (status, clientId, accountId filters), newest first" })
  @ApiResponse({ status: 200, type: AdminRulePageDto })
  @ApiProblems(400)
  async listRules(@Query() q: OperatorRulesQuery) {
    const page = await this.rules.list({
      status: q.status,
      clientId: q.clientId,
      accountId: q.accountId,
      limit: q.limit ?? 50,
      after: decodeCursor(q.cursor, RULE_ID),
    });
    return { data: page.data, nextCursor: encodeCursor(page.nextCursor) };
  }

  @Post('rules/:id/pause')
  @HttpCode(200)
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: AdminRuleDto })
  @ApiProblems(400, 403, 404, 409, 413, 415)
  @ApiOperation({ summary: "Pause any client's rule (operator role, reason required; 409 if already paused)" })
  async pauseRule(@CurrentOperator() operator: Operator, @Param('id') id: string, @Body() body: RuleActionDto) {
    return this.actions.setRuleStatus(operator, checkRuleId(id), 'paused', body.reason);
  }

  @Post('rules/:id/resume')
  @HttpCode(200)
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: AdminRuleDto })
  @ApiProblems(400, 403, 404, 409, 413, 415)
  @ApiOperation({
    summary: 'Resume a paused or disabled rule: evaluated at once, failures start over (operator role; 409 if active)',
  })
  async resumeRule(@CurrentOperator() operator: Operator, @Param('id') id: string, @Body() body: RuleActionDto) {
    return this.actions.setRuleStatus(operator, checkRuleId(id), 'active', body.reason);
  }

  @Get('ledger.csv')
  @ApiOperation({ summary: 'Ledger entries as RFC 4180 CSV for finance (from inclusive, to exclusive)' })
  @ApiProduces('text/csv')
  @ApiResponse({
    status: 200,
    description: 'entryId,at,accountId,rechargeId,clientId,direction,amount,currency,providerReference (CRLF)',
    schema: { type: 'string' },
    headers: {
      'Content-Disposition': { required: true, schema: { type: 'string', pattern: '^attachment; filename=' } },
    },
  })
  @ApiProblems(400)
  ledgerCsv(@Query() q: LedgerCsvQuery, @Res({ passthrough: true }) reply: FastifyReply) {
    const to = q.to ? new Date(q.to) : this.clock.now();
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - DAY_MS);
    if (from >= to) throw invalid('to', 'to must be after from');
    const reads = this.reads;
    const filter = { from, to, accountId: q.accountId };
    async function* lines(): AsyncGenerator<string> {
      yield `${LEDGER_CSV_COLUMNS.map((c) => csvField(c)).join(',')}\r\n`;
      let after: { at: Date; id: string } | undefined;
      for (;;) {
        const rows: LedgerCsvRow[] = await reads.ledgerPage(filter, CSV_PAGE, after);
        if (rows.length > 0) yield rows.map(csvLine).join('');
        if (rows.length < CSV_PAGE) return;
        const last = rows[rows.length - 1];
        after = { at: last.at, id: last.entryId };
      }
    }
    reply
      .type('text/csv; charset=utf-8; header=present')
      .header(
        'Content-Disposition',
        `attachment; filename="ledger_${from.toISOString().replace(/[:.]/g, '-')}_${to.toISOString().replace(/[:.]/g, '-')}.csv"`,
      );
    return Readable.from(lines());
  }
}

function invalid(field: string, message: string): DomainError {
  return new DomainError('INVALID_ARGUMENT', message, [{ field, message }]);
}

function checkRuleId(id: string): string {
  if (!RULE_ID.test(id)) throw new DomainError('NOT_FOUND', `rule ${id} not found`);
  return id;
}

function checkRechargeId(id: string): string {
  if (!RECHARGE_ID.test(id)) throw new RechargeNotFoundError(id);
  return id;
}

/** Cursors are opaque to callers: a base64url JSON pair (position, id). */
const encode = (pair: [string, string]): string => Buffer.from(JSON.stringify(pair)).toString('base64url');

function decodeTuple(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string'))
      return value as [string, string];
  } catch {
    // fall through
  }
  throw invalid('cursor', 'cursor is not valid');
}

function decodeRechargeCursor(cursor: string | undefined): { createdAt: string; id: string } | undefined {
  if (cursor === undefined) return undefined;
  const [createdAt, id] = decodeTuple(cursor);
  if (!/^\d{4}-\d{2}-\d{2}[ T][\d:.]+([+-]\d{2}(:?\d{2})?|Z)?$/.test(createdAt) || !RECHARGE_ID.test(id))
    throw invalid('cursor', 'cursor is not valid');
  return { createdAt, id };
}
