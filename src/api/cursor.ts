import { DomainError } from '../../libs/shared/domain-error';

/** Cursors are opaque to callers: the last id of a page, base64url-encoded. */
export const encodeCursor = (id: string | null): string | null => (id ? Buffer.from(id).toString('base64url') : null);

export function decodeCursor(cursor: string | undefined, pattern: RegExp): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!pattern.test(id))
    throw new DomainError('INVALID_ARGUMENT', 'cursor is not valid', [
      { field: 'cursor', message: 'cursor is not valid' },
    ]);
  return id;
}
