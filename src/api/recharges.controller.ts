import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
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

const RECHARGE_ID = ID_PATTERN('rch');
const MAX_WAIT_SECONDS = 30;

@ApiTags('recharges')
@ApiBearerAuth()
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
  @ApiOperation({ summary: 'Request a recharge (202 new, 200 idempotent replay, 422 key reused with another request)' })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: '1–255 visible ASCII; required unless idempotencyKey is in the body',
  })
  @ApiHeader({
    name: 'Prefer',
    required: false,
    description: 'wait=N (N ≤ 30): hold the response until final or N s pass',
  })
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
  @ApiHeader({ name: 'Prefer', required: false, description: 'wait=N (N ≤ 30)' })
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
  async events(@CurrentClient() client: Client, @Param('id') id: string) {
    const events = await this.getRecharge.events(client, checkId(id));
    return { data: events.map(presentTransition) };
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel a recharge that has not reached the provider (409 otherwise)' })
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
