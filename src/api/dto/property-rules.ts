import { ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';
import { ACCOUNT_ID_PATTERN, ACCOUNT_ID_RULE } from '../../../libs/shared/account-id';

/**
 * Several property decorators as one, applied as TypeScript applies a stack of them (the last
 * first): the validation messages of a field keep their order (Nest's applyDecorators runs them
 * the other way round).
 */
export function stacked(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, propertyKey) => {
    for (const decorator of [...decorators].reverse()) decorator(target, propertyKey);
  };
}

/** An optional string query filter that must match `pattern`. */
export const OptionalMatching = (pattern: RegExp, message: string, api: ApiPropertyOptions = {}): PropertyDecorator =>
  stacked(ApiPropertyOptional(api), IsOptional(), IsString(), Matches(pattern, { message }));

/** The optional accountId filter of a list. */
export const AccountIdFilter = (api: ApiPropertyOptions = {}): PropertyDecorator =>
  OptionalMatching(ACCOUNT_ID_PATTERN, `accountId must be ${ACCOUNT_ID_RULE}`, api);
