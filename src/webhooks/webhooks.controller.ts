import { Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ProviderNotificationDoc, WebhookReceivedDto } from '../api/dto/webhook.dto';
import { ApiProblems } from '../api/openapi';
import type { FastifyRequest } from 'fastify';
import { Clock } from '../../libs/shared/clock';
import { DomainError } from '../../libs/shared/domain-error';
import { ApplyNotificationUseCase } from '../recharge/application/apply-notification.use-case';
import { RechargeTelemetry } from '../recharge/application/ports/recharge-telemetry';
import { parseNotification } from './provider-notification.dto';
import { WebhookSignatureVerifier } from './webhook-signature';
import { withSpan } from '../observability/tracing';

type RawRequest = FastifyRequest & { rawBody?: Buffer; bodyParseError?: boolean };

@ApiTags('webhooks')
@Controller('webhooks')
export class WebhooksController {
  constructor(
    private readonly verifier: WebhookSignatureVerifier,
    private readonly notifications: ApplyNotificationUseCase,
    private readonly telemetry: RechargeTelemetry,
    private readonly clock: Clock,
  ) {}

  /** Signature first (401, nothing stored), then shape (400), then store-and-apply (2xx). */
  @Post('alibaba-cloud')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Provider notifications: CloudEvents signed per Standard Webhooks',
    description:
      'The signature is checked first (401, nothing stored), then the shape (400), then the notification is ' +
      'stored (deduplicated on webhook-id) and applied through the same state rules.',
  })
  @ApiHeader({ name: 'webhook-id', required: true, schema: { type: 'string' } })
  @ApiHeader({
    name: 'webhook-timestamp',
    required: true,
    description: 'Unix seconds; ±5 minutes',
    schema: { type: 'string' },
  })
  @ApiHeader({
    name: 'webhook-signature',
    required: true,
    description: 'space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`',
    schema: { type: 'string' },
  })
  @ApiConsumes('application/json', 'application/cloudevents+json')
  @ApiBody({ type: ProviderNotificationDoc })
  @ApiResponse({ status: 200, type: WebhookReceivedDto })
  @ApiProblems(400, 401, 413, 415)
  async receive(@Req() req: RawRequest) {
    if (!this.verifier.isValid(req.rawBody, req.headers)) {
      this.telemetry.webhookEvent('invalid_signature');
      throw new DomainError('UNAUTHENTICATED', 'missing, invalid or stale webhook signature');
    }
    if (req.bodyParseError) {
      this.telemetry.webhookEvent('malformed');
      throw new DomainError('INVALID_ARGUMENT', 'notification body is not valid JSON');
    }
    let event;
    try {
      event = parseNotification(req.body);
    } catch (err) {
      this.telemetry.webhookEvent('malformed');
      throw err;
    }
    const d = event.data;
    const webhookId = String(req.headers['webhook-id']);
    const attributes = { 'webhook.id': webhookId, 'webhook.type': event.type, 'recharge.id': d.OutBizId };
    const result = await withSpan('webhook.apply', attributes, async (span) => {
      const outcome = await this.notifications.receive(
        {
          webhookId,
          eventId: event.id,
          type: event.type,
          outBizId: d.OutBizId,
          ownerId: d.OwnerId,
          amount: d.Amount,
          currency: d.Currency,
          transactionNumber: d.TransactionNumber ?? null,
          failureCode: d.FailureCode ?? null,
          receivedAt: this.clock.now(),
        },
        event,
      );
      span.setAttribute('webhook.result', outcome);
      return outcome;
    });
    return { received: true, result };
  }
}
