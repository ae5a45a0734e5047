import { bssErrors } from './bss-errors';
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
}

/** Amounts are major-unit decimal strings, as on the wire. */
export interface AccountInput {
  quota?: string;
  consumed?: string;
  currency?: Currency;
  site?: Site;
}

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
}

export interface ChangeResult {
  data: string;
  replayed: boolean;
}

type Params = Record<string, string | undefined>;

interface Account {
  quota: bigint;
  consumed: bigint;
  currency: Currency;
  site: Site;
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

  constructor(
    private readonly options: LedgerOptions,
    private readonly onApplied: (credit: AppliedCredit) => void,
  ) {}

  createResellerUserQuota(p: Params): boolean {
    requireParams(p, ['OwnerId', 'Amount', 'Currency']);
    const ownerId = parseOwnerId(p.OwnerId!);
    const currency = parseCurrency(p.Currency!);
    const quota = parseAmount(p.Amount!, currency, false);
    if (this.accounts.has(ownerId)) throw bssErrors.recordExists();
    this.accounts.set(ownerId, { quota, consumed: 0n, currency, site: this.options.site });
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
   * Idempotent on OutBizId: a replay with the same parameters answers the first result without moving
   * money again. Amounts compare by value, so "49.99" replays "49.990".
   */
  changeResellerConsumeAmount(p: Params): ChangeResult {
    requireParams(p, CHANGE_PARAMS);
    const ownerId = parseOwnerId(p.OwnerId!);
    const adjustType = p.AdjustType;
    if (adjustType !== 'increase' && adjustType !== 'decrease') throw bssErrors.invalidParameter('AdjustType');
    const currency = parseCurrency(p.Currency!);
    const amount = parseAmount(p.Amount!, currency, true);
    const outBizId = p.OutBizId!;
    const fingerprint = [ownerId, adjustType, amount, currency, p.BusinessType, p.Source].join('|');

    const previous = this.changes.get(outBizId);
    if (previous && previous.fingerprint !== fingerprint) throw bssErrors.idempotentMismatch();
    if (previous && this.options.idempotency) return { data: previous.data, replayed: true };

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
    return { data, replayed: false };
  }

  queryResellerAvailableQuota(p: Params): string {
    requireParams(p, ['OwnerId']);
    const account = this.usableAccount(parseOwnerId(p.OwnerId!), undefined);
    return formatMinorAmount(account.quota - account.consumed, account.currency);
  }

  account(ownerId: string): AccountView | undefined {
    const account = this.accounts.get(normalizeOwnerId(ownerId) ?? ownerId);
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
    const account: Account = {
      quota: amount(input.quota, existing?.quota ?? 0n),
      consumed: amount(input.consumed, existing?.consumed ?? 0n),
      currency,
      site,
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

  /** Finds (or, with autoCreateAccounts, opens) the ledger and applies the site and currency rules. */
  private usableAccount(ownerId: string, requestCurrency: string | undefined): Account {
    let account = this.accounts.get(ownerId);
    if (!account) {
      if (!this.options.autoCreateAccounts) throw bssErrors.recordNotExists();
      const currency = requestCurrency === undefined ? 'CNY' : parseCurrency(requestCurrency);
      account = { quota: 0n, consumed: 0n, currency, site: this.options.site };
      this.accounts.set(ownerId, account);
    }
    if (account.site !== this.options.site) throw bssErrors.notApplicable();
    if (requestCurrency !== undefined && requestCurrency !== account.currency)
      throw bssErrors.invalidParameter('Currency');
    return account;
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
  if (ownerId === undefined) throw bssErrors.invalidParameter('OwnerId');
  return ownerId;
}

function parseCurrency(text: string): Currency {
  if (!isCurrency(text)) throw bssErrors.invalidParameter('Currency');
  return text;
}

function parseAmount(text: string, currency: Currency, mustBePositive: boolean): bigint {
  const amount = parseMajorAmount(text, currency);
  if (amount === undefined || (mustBePositive && amount === 0n)) throw bssErrors.invalidParameter('Amount');
  return amount;
}
