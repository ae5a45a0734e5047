import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

const INDICATORS: { type: 'object'; additionalProperties: SchemaObject } = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down'] } },
    additionalProperties: true,
  },
};

/** The health check answer of @nestjs/terminus, as the probes read it. */
export class HealthDto {
  @ApiProperty({ enum: ['ok', 'error', 'shutting_down'] })
  status!: string;

  @ApiPropertyOptional({ ...INDICATORS, description: 'indicators that are up' })
  info?: Record<string, unknown>;

  @ApiPropertyOptional({ ...INDICATORS, description: 'indicators that are down' })
  error?: Record<string, unknown>;

  @ApiProperty({ ...INDICATORS, description: 'every indicator' })
  details!: Record<string, unknown>;
}
