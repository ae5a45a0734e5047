import { presentRecharge } from '../recharge/application/recharge.representation';
import { Recharge } from '../recharge/domain/recharge';
import { ChartMinute, DiscrepancyView, LedgerCsvRow, RechargeStory } from './application/ports/admin-read-model';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A recharge as an operator sees it: the public representation plus the client that asked for it. */
export function presentAdminRecharge(r: Recharge) {
  const { id, ...rest } = presentRecharge(r);
  return { id, clientId: r.clientId, ...rest };
}

export function presentDiscrepancy(d: DiscrepancyView) {
  return { ...d, seenAt: iso(d.seenAt), acknowledgedAt: iso(d.acknowledgedAt) };
}

export function presentStory(s: RechargeStory) {
  return {
    ...presentAdminRecharge(s.recharge),
    events: s.events.map((e) => ({ ...e, at: iso(e.at) })),
    providerCalls: s.providerCalls.map((c) => ({ ...c, at: iso(c.at) })),
    notifications: s.notifications.map((n) => ({
      ...n,
      receivedAt: iso(n.receivedAt),
      processedAt: iso(n.processedAt),
    })),
    callbacks: s.callbacks.map((c) => ({
      ...c,
      nextAttemptAt: iso(c.nextAttemptAt),
      createdAt: iso(c.createdAt),
      deliveredAt: iso(c.deliveredAt),
    })),
    callbackAttempts: s.callbackAttempts.map((a) => ({ ...a, attemptedAt: iso(a.attemptedAt) })),
    ledger: s.ledger.map((l) => ({ ...l, amount: Number(l.amount), at: iso(l.at) })),
    discrepancies: s.discrepancies.map(presentDiscrepancy),
    operatorActions: s.operatorActions.map((a) => ({ ...a, at: iso(a.at) })),
  };
}

/** One point per minute from `from` to `to`, zeros where nothing finished (the chart needs a regular axis). */
export function chartSeries(rows: ChartMinute[], from: Date, to: Date) {
  const byMinute = new Map(rows.map((r) => [r.minute.getTime(), r]));
  const out = {
    minutes: [] as string[],
    succeeded: [] as number[],
    failed: [] as number[],
    canceled: [] as number[],
    confirmationP50Seconds: [] as Array<number | null>,
    confirmationP95Seconds: [] as Array<number | null>,
  };
  for (let t = from.getTime(); t <= to.getTime(); t += 60_000) {
    const r = byMinute.get(t);
    out.minutes.push(new Date(t).toISOString());
    out.succeeded.push(r?.succeeded ?? 0);
    out.failed.push(r?.failed ?? 0);
    out.canceled.push(r?.canceled ?? 0);
    out.confirmationP50Seconds.push(r?.confirmationP50 ?? null);
    out.confirmationP95Seconds.push(r?.confirmationP95 ?? null);
  }
  return out;
}

export const LEDGER_CSV_COLUMNS = [
  'entryId',
  'at',
  'accountId',
  'rechargeId',
  'clientId',
  'direction',
  'amount',
  'currency',
  'providerReference',
] as const;

/** RFC 4180: CRLF line ends; a field with a comma, quote, CR or LF is quoted, quotes doubled. */
export function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvLine(row: LedgerCsvRow): string {
  const values: Record<(typeof LEDGER_CSV_COLUMNS)[number], string | null> = {
    ...row,
    at: row.at.toISOString(),
  };
  return `${LEDGER_CSV_COLUMNS.map((c) => csvField(values[c])).join(',')}\r\n`;
}
