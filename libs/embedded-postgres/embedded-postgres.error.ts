/**
 * A failure of the embedded PostgreSQL, told in one line: what happened, then what to do about it.
 * `npm start` prints the message as it is (never a stack trace): a newcomer reads it, not a developer.
 */
export class EmbeddedPostgresError extends Error {
  override readonly name = 'EmbeddedPostgresError';

  constructor(what: string, whatToDo: string) {
    super(`${oneLine(what)}; ${oneLine(whatToDo)}`);
  }
}

/** Folds whatever a tool printed (initdb, useradd, the server's log) into a single line. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
