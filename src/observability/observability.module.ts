import { Controller, Get, Global, Header, Inject, Module } from '@nestjs/common';
import { DomainError } from '../../libs/shared/domain-error';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../api/openapi';
import { RechargeTelemetry } from '../recharge/application/ports/recharge-telemetry';
import { PrometheusTelemetry } from './prometheus-telemetry';

@ApiTags('operations')
@Controller('metrics')
class MetricsController {
  constructor(
    private readonly telemetry: PrometheusTelemetry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format)' })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, schema: { type: 'string' } })
  @ApiProblems(404)
  metrics(): Promise<string> {
    // With METRICS_PORT set, /metrics is served there only (metrics-server.ts), not to API callers.
    if (this.config.metricsPort !== null) throw new DomainError('NOT_FOUND', 'not found');
    return this.telemetry.registry.metrics();
  }
}

@Global()
@Module({
  controllers: [MetricsController],
  providers: [PrometheusTelemetry, { provide: RechargeTelemetry, useExisting: PrometheusTelemetry }],
  exports: [PrometheusTelemetry, RechargeTelemetry],
})
export class ObservabilityModule {}
