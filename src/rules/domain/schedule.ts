import { Cron } from 'croner';

/**
 * Cron arithmetic is croner's (time zones and daylight-saving changes included): a wall-clock time
 * that does not exist on a spring-forward day fires once at the first instant after the gap, a time
 * that occurs twice on a fall-back day fires once, at its first occurrence.
 */

/** Why a 5-field cron expression in an IANA zone cannot be used, or null when it can. */
export function scheduleProblem(cron: string, timezone: string): string | null {
  if (!isTimeZone(timezone)) return `timezone "${timezone}" is not an IANA time zone`;
  if (cron.trim().split(/\s+/).length !== 5) return 'cron must have exactly 5 fields (minute hour day month weekday)';
  try {
    if (!new Cron(cron, { timezone, paused: true }).nextRun(new Date())) return 'cron never fires';
  } catch (err) {
    return `cron is not valid: ${err instanceof Error ? err.message : String(err)}`;
  }
  return null;
}

/** The first scheduled instant strictly after `after`. */
export function nextRunAfter(cron: string, timezone: string, after: Date): Date {
  const next = new Cron(cron, { timezone, paused: true }).nextRun(after);
  if (!next) throw new Error(`cron "${cron}" never fires after ${after.toISOString()}`);
  return next;
}

export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The calendar day of an instant in a zone, "YYYY-MM-DD" (its first 7 characters are the month). */
export function localDay(instant: Date, timezone: string): string {
  let format = formats.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    formats.set(timezone, format);
  }
  return format.format(instant);
}
