import { plainToInstance, Type } from 'class-transformer';
import {
  Equals,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateNested,
  validateSync,
} from 'class-validator';
import { DomainError } from '../../libs/shared/domain-error';
import { NotificationType } from '../recharge/application/ports/notification-inbox';

export const NOTIFICATION_TYPES: NotificationType[] = [
  'bss:Recharge:Succeeded',
  'bss:Recharge:Failed',
  'bss:Recharge:Canceled',
];

class RechargeNotificationData {
  @IsString() @MaxLength(64) OutBizId!: string;
  @IsString() @Matches(/^\d{1,20}$/) OwnerId!: string;
  @IsString() @Matches(/^\d+(\.\d+)?$/, { message: 'Amount must be a non-negative decimal string' }) Amount!: string;
  @IsString() @MaxLength(8) Currency!: string;
  @IsString() @IsIn(['SUCCEEDED', 'FAILED', 'CANCELED']) Status!: string;
  @IsOptional() @IsString() @MaxLength(128) TransactionNumber?: string | null;
  @IsOptional() @IsString() @MaxLength(128) FailureCode?: string | null;
}

/** CloudEvents 1.0 structured JSON, as docs/webhooks.md shows it. */
export class ProviderNotificationEvent {
  @Equals('1.0') specversion!: string;
  @IsString() @MaxLength(256) id!: string;
  @IsString() source!: string;
  @IsIn(NOTIFICATION_TYPES) type!: NotificationType;
  @IsOptional() @IsString() time?: string;
  @IsOptional() @IsString() subject?: string;
  @IsOptional() @IsString() datacontenttype?: string;
  @IsObject() @ValidateNested() @Type(() => RechargeNotificationData) data!: RechargeNotificationData;
}

/** The `data.Status` each CloudEvent type must carry. */
const STATUS_OF_TYPE: Record<NotificationType, string> = {
  'bss:Recharge:Succeeded': 'SUCCEEDED',
  'bss:Recharge:Failed': 'FAILED',
  'bss:Recharge:Canceled': 'CANCELED',
};

export function parseNotification(body: unknown): ProviderNotificationEvent {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new DomainError('INVALID_ARGUMENT', 'notification body must be a CloudEvents JSON object');
  }
  const event = plainToInstance(ProviderNotificationEvent, body);
  const errors = validateSync(event, { forbidUnknownValues: false });
  if (errors.length > 0) {
    const fields = errors.flatMap((e) =>
      e.children && e.children.length > 0
        ? e.children.map((c) => ({
            field: `data.${c.property}`,
            message: Object.values(c.constraints ?? {}).join('; '),
          }))
        : [{ field: e.property, message: Object.values(e.constraints ?? {}).join('; ') }],
    );
    throw new DomainError('INVALID_ARGUMENT', 'malformed provider notification', fields);
  }
  // A signed Succeeded carrying Status FAILED says two things at once; believing either one could
  // credit money that did not move (or fail money that did), so neither is stored.
  const expected = STATUS_OF_TYPE[event.type];
  if (event.data.Status !== expected) {
    throw new DomainError('INVALID_ARGUMENT', `type ${event.type} and data.Status ${event.data.Status} disagree`, [
      { field: 'data.Status', message: `must be ${expected} for type ${event.type}` },
    ]);
  }
  return event;
}
