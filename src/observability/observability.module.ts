import { Controller, Get, Global, Header, Module } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { RechargeTelemetry } from '../recharge/application/ports/recharge-telemetry';
import { PrometheusTelemetry } from './prometheus-telemetry';

@ApiTags('operations')
@Controller('metrics')
class MetricsController {
  constructor(private readonly telemetry: PrometheusTelemetry) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format)' })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, schema: { type: 'string' } })
  metrics(): Promise<string> {
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
