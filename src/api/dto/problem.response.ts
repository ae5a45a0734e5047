import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'UNAUTHENTICATED',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'DUPLICATE_REQUEST',
  'INVALID_STATE',
  'RATE_LIMITED',
  'PROVIDER_ERROR',
  'TIMEOUT',
  'INTERNAL_ERROR',
  'UNAVAILABLE',
] as const;

export class FieldErrorDto {
  @ApiProperty({ example: 'amount', description: 'the body field, query parameter or header at fault' })
  field!: string;

  @ApiProperty({ example: 'amount must be positive' })
  message!: string;
}

/** RFC 9457 problem details with the service's own members `code`, `correlationId` and `errors`. */
export class ProblemDto {
  @ApiProperty({ format: 'uri', example: 'https://docs.alicloud-recharge.internal/errors/invalid-argument' })
  type!: string;

  @ApiProperty({ example: 'Invalid argument' })
  title!: string;

  @ApiProperty({ type: 'integer', minimum: 400, maximum: 599, example: 400 })
  status!: number;

  @ApiProperty({ example: 'the request is invalid' })
  detail!: string;

  @ApiProperty({ example: '/v1/recharges', description: 'the request path' })
  instance!: string;

  @ApiProperty({ enum: ERROR_CODES, description: 'stable, machine-readable; switch on this, not on the status' })
  code!: string;

  @ApiProperty({ example: 'req-7f3a', description: 'the X-Request-Id of the request; quote it when reporting' })
  correlationId!: string;

  @ApiPropertyOptional({ type: () => [FieldErrorDto], description: 'present on validation errors' })
  errors?: FieldErrorDto[];
}
