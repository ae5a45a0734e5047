import { uuidv7 } from 'uuidv7';

/** Sortable unique ids: a prefix plus a UUIDv7 without dashes, so lexical order is creation order. */
export const newId = (prefix: string): string => `${prefix}_${uuidv7().replace(/-/g, '')}`;

export const ID_PATTERN = (prefix: string): RegExp => new RegExp(`^${prefix}_[0-9a-f]{32}$`);
