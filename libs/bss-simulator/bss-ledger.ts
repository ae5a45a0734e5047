import { bssErrors, injectedError } from './bss-errors';
import { Currency, formatMinorAmount, isCurrency, parseMajorAmount } from './money';

/**
 * The BSS reseller quota ledgers, one per customer (OwnerId), held in memory (reference §5).
 * available = quota − consumed. AdjustType "increase" records new spend; "decrease" is a customer
 * top-up, so it lowers consumed and raises available (consumed may go below zero).
 */
export type Site = 'china' | 'intl';
export type AdjustType = 'increase' | 'decrease';

export interface AccountView {
  quota: string;
  consumed: string;
  available: string;
  currency: Currency;
  site: Site;
  /** What the customer spends per minute while quota is available (major units); "0" for none. */
  spendPerMinute: string;
}

/** Amounts are major-unit decimal strings, as on the wire. */
export interface AccountInput {
  quota?: string;
  consumed?: string;
  currency?: Currency;
  site?: Site;
  /** The customer's spend: consumption rises by this much per minute, until nothing is available. */
  spendPerMinute?: string;
}

/**
 * What a ChangeResellerConsumeAmount with an OutBizId that was already applied gets (same
 * parameters; other parameters always get IdempotentParameterMismatch). Alibaba documents the
 * OutBizId as the idempotency key but not the answer to a repeat, so each plausible one can be
 * chosen: the first result again (default), an error code, or a success whose Data is the ledger's
 * consumption now. None of them moves money again.
 */
export type RepeatAnswer =
  { answer: 'first' } | { answer: 'fresh' } | { answer: 'error'; code: string; status?: number };

export interface AppliedCredit {
  outBizId: string;
  ownerId: string;
  adjustType: AdjustType;
  amountMinor: string;
  currency: Currency;
  /** 1 unless the simulator runs with idempotency off: it counts how often this OutBizId moved money. */
  timesApplied: number;
  transactionNumber: string;
  appliedAt: string;
}

export interface LedgerOptions {
  autoCreateAccounts: boolean;
  idempotency: boolean;
  site: Site;
  /** Wall clock (ms) for the accounts' spending; Date.now by default. */
  now?: () => number;
}

export interface ChangeResult {
  data: string;
  /** 'applied' moved money; the others answered a repeated OutBizId without moving it. */
  outcome: 'applied' | 'replayed' | 'replayed_fresh';
}

type Params = Record<string, string | undefined>;

interface Account {
  quota: bigint;
  consumed: bigint;
  currency: Currency;
  site: Site;
  /** Minor units per minute. */
  spendPerMinute: bigint;
  /** Spending is settled up to this instant (ms); the fraction of a minor unit not yet spent, in minor·ms/min. */
  settledAt: number;
  carry: bigint;
}

interface ChangeRecord {
  fingerprint: string;
  data: string;
  credit: AppliedCredit;
}

const CHANGE_PARAMS = ['OwnerId', 'AdjustType', 'Amount', 'Currency', 'BusinessType', 'Source', 'OutBizId'];

export class BssLedger {
  private readonly accounts = new Map<string, Account>();
  private readonly changes = new Map<string, ChangeRecord>();
  private transactionSeq = 0;

  private readonly now: () => number;

  constructor(
    private readonly options: LedgerOptions,
    private readonly onApplied: (credit: AppliedCredit) => void,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Whether a ChangeResellerConsumeAmount with this OutBizId was applied (a send now would be a repeat). */
  hasApplied(outBizId: string | undefined): boolean {
    return outBizId !== undefined && this.changes.has(outBizId);
  }

  createResellerUserQuota(p: Params): boolean {
    requireParams(p, ['OwnerId', 'Amount', 'Currency']);
    const ownerId = parseOwnerId(p.OwnerId!);
    const currency = parseCurrency(p.Currency!);
    const quota = parseAmount(p.Amount!, currency, false);
    if (this.accounts.has(ownerId)) throw bssErrors.recordExists();
    this.accounts.set(ownerId, this.newAccount(quota, currency));
    return true;
  }

  /** Absolute, not incremental: the name and the docs imply "set" (reference §5.2 marks it unconfirmed). */
  setResellerUserQuota(p: Params): boolean {
    requireParams(p, ['OwnerId', 'Amount']);
    const account = this.usableAccount(parseOwnerId(p.OwnerId!), p.Currency);
    account.quota = parseAmount(p.Amount!, account.currency, false);
    return true;
  }

  /**
   * Idempotent on OutBizId: a repeat with the same parameters never moves money again and gets
   * `repeat` (by default the first result). Amounts compare by value, so "49.99" repeats "49.990".
   */
  changeResellerConsumeAmount(p: Params, repeat: RepeatAnswer = { answer: 'first' }): ChangeResult {
    requireParams(p, CHANGE_PARAMS);
    const ownerId = parseOwnerId(p.OwnerId!);
    const adjustType = p.AdjustType;
    if (adjustType !== 'increase' && adjustType !== 'decrease') throw bssErrors.invalidValue('AdjustType');
    const currency = parseCurrency(p.Currency!);
    const amount = parseAmount(p.Amount!, currency, true);
    const outBizId = p.OutBizId!;
    const fingerprint = [ownerId, adjustType, amount, currency, p.BusinessType, p.Source].join('|');

    const previous = this.changes.get(outBizId);
    if (previous && previous.fingerprint !== fingerprint) throw bssErrors.idempotentMismatch();
    if (previous && this.options.idempotency) {
      if (repeat.answer === 'error') throw injectedError(repeat.code, repeat.status);
      if (repeat.answer === 'first') return { data: previous.data, outcome: 'replayed' };
      const now = this.usableAccount(ownerId, currency);
      return { data: formatMinorAmount(now.consumed, currency), outcome: 'replayed_fresh' };
    }

    const account = this.usableAccount(ownerId, currency);
    account.consumed += adjustType === 'increase' ? amount : -amount;
    // The docs define Data as the consumption on the ledger after the change.
    const data = formatMinorAmount(account.consumed, currency);

    if (previous) {
      previous.credit.timesApplied += 1;
      previous.data = data;
      this.onApplied({ ...previous.credit });
    } else {
      const credit: AppliedCredit = {
        outBizId,
        ownerId,
        adjustType,
        amountMinor: amount.toString(),
        currency,
        timesApplied: 1,
        transactionNumber: this.nextTransactionNumber(),
        appliedAt: new Date().toISOString(),
      };
      this.changes.set(outBizId, { fingerprint, data, credit });
      this.onApplied({ ...credit });
    }
    return { data, outcome: 'applied' };
  }

  /** A ledger that was never opened is -304 here even when credits open ledgers on first use. */
  queryResellerAvailableQuota(p: Params): string {
    requireParams(p, ['OwnerId']);
    const account = this.usableAccount(parseOwnerId(p.OwnerId!), undefined, false);
    return formatMinorAmount(account.quota - account.consumed, account.currency);
  }

  account(ownerId: string): AccountView | undefined {
    const account = this.accounts.get(normalizeOwnerId(ownerId) ?? ownerId);
    if (account) this.settle(account);
    return account && view(account);
  }

  /** Test setup: creates the ledger or overwrites the given fields. Throws on invalid input. */
  setAccount(ownerId: string, input: AccountInput): AccountView {
    const id = normalizeOwnerId(ownerId);
    if (id === undefined) throw new Error(`ownerId must be 1-20 digits, got "${ownerId}"`);
    const existing = this.accounts.get(id);
    const currency = input.currency ?? existing?.currency ?? 'CNY';
    if (!isCurrency(currency)) throw new Error(`unsupported currency "${String(currency)}"`);
    const amount = (text: string | undefined, fallback: bigint): bigint => {
      if (text === undefined) return fallback;
      const parsed = parseMajorAmount(String(text), currency);
      if (parsed === undefined) throw new Error(`"${text}" is not an exact non-negative ${currency} amount`);
      return parsed;
    };
    const site = input.site ?? existing?.site ?? this.options.site;
    if (site !== 'china' && site !== 'intl') throw new Error(`site must be "china" or "intl"`);
    if (existing) this.settle(existing);
    const account: Account = {
      ...this.newAccount(amount(input.quota, existing?.quota ?? 0n), currency),
      consumed: amount(input.consumed, existing?.consumed ?? 0n),
      site,
      spendPerMinute: amount(input.spendPerMinute, existing?.spendPerMinute ?? 0n),
      carry: existing?.carry ?? 0n,
    };
    this.accounts.set(id, account);
    return view(account);
  }

  credits(): AppliedCredit[] {
    return [...this.changes.values()].map((record) => ({ ...record.credit }));
  }

  reset(): void {
    this.accounts.clear();
    this.changes.clear();
    this.transactionSeq = 0;
  }

  /**
   * Finds (or, with autoCreateAccounts and `open`, opens) the ledger, brings its spending up to
   * now, and applies the site and currency rules.
   */
  private usableAccount(ownerId: string, requestCurrency: string | undefined, open = true): Account {
    let account = this.accounts.get(ownerId);
    if (!account) {
      if (!open || !this.options.autoCreateAccounts) throw bssErrors.recordNotExists();
      const currency = requestCurrency === undefined ? 'CNY' : parseCurrency(requestCurrency);
      account = this.newAccount(0n, currency);
      this.accounts.set(ownerId, account);
    }
    this.settle(account);
    if (account.site !== this.options.site) throw bssErrors.notApplicable();
    if (requestCurrency !== undefined && requestCurrency !== account.currency) throw bssErrors.invalidValue('Currency');
    return account;
  }

  private newAccount(quota: bigint, currency: Currency): Account {
    return {
      quota,
      consumed: 0n,
      currency,
      site: this.options.site,
      spendPerMinute: 0n,
      settledAt: this.now(),
      carry: 0n,
    };
  }

  /**
   * The customer's spending since the last look, in whole minor units (the fraction carried), and
   * never below nothing available: a customer cannot spend quota they do not have.
   */
  private settle(account: Account): void {
    const now = this.now();
    const elapsed = BigInt(Math.max(0, Math.floor(now - account.settledAt)));
    account.settledAt = now;
    if (account.spendPerMinute === 0n) return;
    const accrued = account.spendPerMinute * elapsed + account.carry;
    const whole = accrued / 60_000n;
    account.carry = accrued % 60_000n;
    const available = account.quota - account.consumed;
    const spent = whole < available ? whole : available > 0n ? available : 0n;
    if (spent < whole) account.carry = 0n;
    account.consumed += spent;
  }

  private nextTransactionNumber(): string {
    this.transactionSeq += 1;
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    return `${day}${String(this.transactionSeq).padStart(5, '0')}`;
  }
}

function view(account: Account): AccountView {
  const format = (minor: bigint) => formatMinorAmount(minor, account.currency);
  return {
    quota: format(account.quota),
    consumed: format(account.consumed),
    available: format(account.quota - account.consumed),
    currency: account.currency,
    site: account.site,
    spendPerMinute: format(account.spendPerMinute),
  };
}

function requireParams(p: Params, names: string[]): void {
  if (names.some((name) => !p[name])) throw bssErrors.parameterError();
}

/** OwnerIds are 16-digit UIDs beyond 2^53: kept as strings, leading zeros dropped so "007" and "7" meet. */
function normalizeOwnerId(text: string): string | undefined {
  return /^\d{1,20}$/.test(text) ? BigInt(text).toString() : undefined;
}

function parseOwnerId(text: string): string {
  const ownerId = normalizeOwnerId(text);
  if (ownerId === undefined) throw bssErrors.invalidValue('OwnerId');
  return ownerId;
}

function parseCurrency(text: string): Currency {
  if (!isCurrency(text)) throw bssErrors.invalidValue('Currency');
  return text;
}

function parseAmount(text: string, currency: Currency, mustBePositive: boolean): bigint {
  const amount = parseMajorAmount(text, currency);
  if (amount === undefined || (mustBePositive && amount === 0n)) throw bssErrors.invalidValue('Amount');
  return amount;
}
