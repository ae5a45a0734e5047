import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DomainError } from '../../libs/shared/domain-error';
import { Lifecycle } from '../health/lifecycle';
import { ID_PATTERN } from '../../libs/shared/ids';
import { Client } from '../clients/domain/client';
import { CancelRechargeUseCase } from '../recharge/application/cancel-recharge.use-case';
import { CreateRechargeUseCase } from '../recharge/application/create-recharge.use-case';
import { GetRechargeUseCase } from '../recharge/application/get-recharge.use-case';
import { RechargeNotFoundError } from '../recharge/domain/recharge.errors';
import { statesOfStatus } from '../recharge/domain/recharge-state';
import { AuthGuard, CurrentClient } from './auth.guard';
import { decodeCursor, encodeCursor } from './cursor';
import { CreateRechargeDto, IDEMPOTENCY_KEY, ListRechargesQuery } from './dto/recharge.dto';
import { WaitSlots } from './wait-slots';
import { presentRecharge, presentTransition } from '../recharge/application/recharge.representation';
import { RechargeDto, RechargeEventsDto, RechargePageDto } from './dto/recharge.response';
import { ApiPreferWait, ApiProblems, CLIENT_AUTH, RESPONSE_HEADERS } from './openapi';

const RECHARGE_ID = ID_PATTERN('rch');
const MAX_WAIT_SECONDS = 30;

@ApiTags('recharges')
@ApiBearerAuth(CLIENT_AUTH)
@ApiProblems(401, 429)
@UseGuards(AuthGuard)
@Controller('v1/recharges')
export class RechargesController {
  constructor(
    private readonly createRecharge: CreateRechargeUseCase,
    private readonly getRecharge: GetRechargeUseCase,
    private readonly cancelRecharge: CancelRechargeUseCase,
    private readonly lifecycle: Lifecycle,
    private readonly waitSlots: WaitSlots,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Request a recharge',
    description:
      'Durably records the recharge before answering. 202 for a new key; 200 with `Idempotent-Replayed: true` ' +
      'for the same key and the same request (answered before the policy checks); 422 for the same key and ' +
      'another request. Concurrent identical requests create one recharge: one caller gets 202, the others 200.',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: '1–255 visible ASCII characters; required unless `idempotencyKey` is in the body (both → must match)',
    schema: { type: 'string', pattern: '^[\\x21-\\x7E]{1,255}$', example: 'order-42' },
  })
  @ApiPreferWait()
  @ApiResponse({
    status: 202,
    description: 'a new recharge, durably stored',
    type: RechargeDto,
    headers: { ...RESPONSE_HEADERS.location, ...RESPONSE_HEADERS.preferenceApplied },
  })
  @ApiResponse({
    status: 200,
    description: 'the replay of an earlier request with this key: the recharge as it is now',
    type: RechargeDto,
    headers: { ...RESPONSE_HEADERS.location, ...RESPONSE_HEADERS.replayed, ...RESPONSE_HEADERS.preferenceApplied },
  })
  @ApiProblems(400, 403, 413, 415, 422)
  async create(
    @CurrentClient() client: Client,
    @Body() dto: CreateRechargeDto,
    @Headers('idempotency-key') headerKey: string | undefined,
    @Headers('prefer') prefer: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { outcome, recharge } = await this.createRecharge.execute({
      client,
      idempotencyKey: resolveIdempotencyKey(headerKey, dto.idempotencyKey),
      accountId: dto.accountId,
      amount: dto.amount,
      currency: dto.currency,
      orderReference: dto.orderReference ?? null,
      metadata: dto.metadata ?? {},
      callbackUrl: dto.callbackUrl ?? null,
    });
    reply.header('Location', `/v1/recharges/${recharge.id}`);
    // 202 for a new recharge, 200 for a replay: recharge_requests_total reads its outcome from the status.
    if (outcome === 'replayed') reply.status(200).header('Idempotent-Replayed', 'true');
    return presentRecharge(await this.maybeWait(client, recharge, prefer, reply));
  }

  @Get()
  @ApiOperation({ summary: "List this client's recharges, newest first" })
  @ApiResponse({ status: 200, type: RechargePageDto })
  @ApiProblems(400, 403)
  async list(@CurrentClient() client: Client, @Query() q: ListRechargesQuery) {
    const page = await this.getRecharge.list(client, {
      accountId: q.accountId,
      states: q.status ? statesOfStatus(q.status) : undefined,
      limit: q.limit ?? 20,
      after: decodeCursor(q.cursor, RECHARGE_ID),
    });
    return { data: page.data.map(presentRecharge), nextCursor: encodeCursor(page.nextCursor) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One recharge' })
  @ApiParam({ name: 'id', schema: { type: 'string', example: 'rch_0190b3a1c2d37f0e8a9b0c1d2e3f4a5b' } })
  @ApiPreferWait()
  @ApiResponse({ status: 200, type: RechargeDto, headers: RESPONSE_HEADERS.preferenceApplied })
  @ApiProblems(404)
  async get(
    @CurrentClient() client: Client,
    @Param('id') id: string,
    @Headers('prefer') prefer: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const recharge = await this.getRecharge.get(client, checkId(id));
    return presentRecharge(await this.maybeWait(client, recharge, prefer, reply));
  }

  @Get(':id/events')
  @ApiOperation({ summary: 'State transitions, oldest first' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, type: RechargeEventsDto })
  @ApiProblems(404)
  async events(@CurrentClient() client: Client, @Param('id') id: string) {
    const events = await this.getRecharge.events(client, checkId(id));
    return { data: events.map(presentTransition) };
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel a recharge that has not reached the provider (409 otherwise)' })
  @ApiParam({ name: 'id', schema: { type: 'string' } })
  @ApiResponse({ status: 200, description: 'the canceled recharge', type: RechargeDto })
  @ApiProblems(400, 404, 409, 413, 415)
  async cancel(@CurrentClient() client: Client, @Param('id') id: string) {
    return presentRecharge(await this.cancelRecharge.execute(client, checkId(id)));
  }

  private async maybeWait(
    client: Client,
    recharge: Parameters<typeof presentRecharge>[0],
    prefer: string | undefined,
    reply: FastifyReply,
  ) {
    const match = prefer ? /(?:^|[,;\s])wait\s*=\s*(\d+)/i.exec(prefer) : null;
    if (!match) return recharge;
    const release = this.waitSlots.tryAcquire(client.id);
    if (!release) return recharge;
    try {
      const seconds = Math.min(Number(match[1]), MAX_WAIT_SECONDS);
      reply.header('Preference-Applied', `wait=${seconds}`);
      return await this.getRecharge.waitUntilFinal(recharge, seconds * 1000, this.lifecycle.closingSignal);
    } finally {
      release();
    }
  }
}

function checkId(id: string): string {
  if (!RECHARGE_ID.test(id)) throw new RechargeNotFoundError(id);
  return id;
}

function resolveIdempotencyKey(header: string | undefined, body: string | undefined): string {
  if (header !== undefined && !IDEMPOTENCY_KEY.test(header)) {
    throw new DomainError('INVALID_ARGUMENT', 'Idempotency-Key must be 1–255 visible ASCII characters', [
      { field: 'Idempotency-Key', message: 'must be 1–255 visible ASCII characters' },
    ]);
  }
  if (header !== undefined && body !== undefined && header !== body) {
    throw new DomainError('INVALID_ARGUMENT', 'the Idempotency-Key header and the idempotencyKey field differ', [
      { field: 'idempotencyKey', message: 'differs from the Idempotency-Key header' },
    ]);
  }
  const key = header ?? body;
  if (key === undefined) {
    throw new DomainError('INVALID_ARGUMENT', 'an Idempotency-Key header (or idempotencyKey field) is required', [
      { field: 'Idempotency-Key', message: 'required' },
    ]);
  }
  return key;
}
