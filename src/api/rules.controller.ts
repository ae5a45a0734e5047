import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ID_PATTERN } from '../../libs/shared/ids';
import { Client } from '../clients/domain/client';
import { ManageRulesUseCase, ruleNotFound } from '../rules/application/manage-rules.use-case';
import { presentEvaluation, presentRuleView } from '../rules/application/rule.representation';
import { RuleEvaluationWorker } from '../rules/rule-evaluation.worker';
import { AuthGuard, CurrentClient } from './auth.guard';
import { decodeCursor, encodeCursor } from './cursor';
import {
  CreateRuleDto,
  EvaluationsQuery,
  ListRulesQuery,
  toRuleDraft,
  toRulePatch,
  UpdateRuleDto,
} from './dto/rule.dto';
import { RuleDto, RuleEvaluationPageDto, RulePageDto } from './dto/rule.response';
import { ApiProblems, CLIENT_AUTH } from './openapi';

const RULE_ID = ID_PATTERN('rul');
const EVALUATION_ID = /^\d{1,19}$/;

@ApiTags('rules')
@ApiBearerAuth(CLIENT_AUTH)
@ApiProblems(401, 429)
@UseGuards(AuthGuard)
@Controller('v1/rules')
export class RulesController {
  constructor(
    private readonly rules: ManageRulesUseCase,
    private readonly worker: RuleEvaluationWorker,
  ) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary:
      'Create an auto-recharge rule (evaluated at once); 409 if one is already active for the account and currency',
  })
  @ApiResponse({
    status: 201,
    type: RuleDto,
    headers: { Location: { description: 'the path of the rule', required: true, schema: { type: 'string' } } },
  })
  @ApiProblems(400, 403, 409, 413, 415)
  async create(
    @CurrentClient() client: Client,
    @Body() dto: CreateRuleDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const view = await this.rules.create(client, toRuleDraft(dto));
    this.worker.wake();
    reply.header('Location', `/v1/rules/${view.rule.id}`);
    return presentRuleView(view);
  }

  @Get()
  @ApiOperation({ summary: "List this client's rules, newest first" })
  @ApiResponse({ status: 200, type: RulePageDto })
  @ApiProblems(400, 403)
  async list(@CurrentClient() client: Client, @Query() q: ListRulesQuery) {
    const page = await this.rules.list(client, {
      accountId: q.accountId,
      status: q.status,
      limit: q.limit ?? 20,
      after: decodeCursor(q.cursor, RULE_ID),
    });
    return { data: page.data.map(presentRuleView), nextCursor: encodeCursor(page.nextCursor) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One rule' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: RuleDto })
  @ApiProblems(404)
  async get(@CurrentClient() client: Client, @Param('id') id: string) {
    return presentRuleView(await this.rules.get(client, checkId(id)));
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change any field, pause or resume (re-activating a disabled rule resets its failures)' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: RuleDto })
  @ApiProblems(400, 403, 404, 409, 413, 415)
  async update(@CurrentClient() client: Client, @Param('id') id: string, @Body() dto: UpdateRuleDto) {
    const view = await this.rules.update(client, checkId(id), toRulePatch(dto));
    if (view.rule.status === 'active') this.worker.wake();
    return presentRuleView(view);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a rule (its evaluations and top-ups stay on record)' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 204, description: 'deleted' })
  @ApiProblems(404)
  async delete(@CurrentClient() client: Client, @Param('id') id: string): Promise<void> {
    await this.rules.delete(client, checkId(id));
  }

  @Get(':id/evaluations')
  @ApiOperation({ summary: 'Evaluations, newest first: {at, quota, decision, reason, rechargeId}' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: RuleEvaluationPageDto })
  @ApiProblems(400, 404)
  async evaluations(@CurrentClient() client: Client, @Param('id') id: string, @Query() q: EvaluationsQuery) {
    const page = await this.rules.evaluations(
      client,
      checkId(id),
      q.limit ?? 20,
      decodeCursor(q.cursor, EVALUATION_ID),
    );
    return { data: page.data.map(presentEvaluation), nextCursor: encodeCursor(page.nextCursor) };
  }
}

function checkId(id: string): string {
  if (!RULE_ID.test(id)) throw ruleNotFound(id);
  return id;
}
