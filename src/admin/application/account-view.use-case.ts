import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { DomainError } from '../../../libs/shared/domain-error';
import { CURRENCIES, Currency } from '../../recharge/domain/money';
import { RechargeProvider } from '../../recharge/application/ports/recharge-provider';
import { Recharge } from '../../recharge/domain/recharge';
import { AdminReadModel } from './ports/admin-read-model';

export interface ProviderQuota {
  /** Minor units, like every amount of the service. */
  amount: bigint;
  currency: Currency;
  at: Date;
}

export interface AccountView {
  accountId: string;
  balances: Array<{ currency: string; amount: string }>;
  providerQuota: ProviderQuota | null;
  providerQuotaError: string | null;
  recentRecharges: Recharge[];
}

interface CachedQuota {
  quota: ProviderQuota | null;
  error: string | null;
  until: number;
}

/**
 * An account as an operator sees it: our ledger balance next to the provider's live quota. The
 * quota read is a provider call (QueryResellerAvailableQuota) and goes through the same port,
 * rate budget and circuit as credits; answers are cached for QUOTA_TTL_MS per replica and account
 * so a busy console cannot eat the credits' budget. A failure is shown as it is, never as zero.
 */
@Injectable()
export class AccountViewUseCase {
  static readonly QUOTA_TTL_MS = 30_000;
  /** A failed read is retried sooner, but not on every page load. */
  static readonly ERROR_TTL_MS = 5_000;
  private readonly logger = new Logger('AccountView');
  private readonly cache = new Map<string, CachedQuota>();

  constructor(
    private readonly reads: AdminReadModel,
    private readonly provider: RechargeProvider,
    private readonly clock: Clock,
  ) {}

  async view(accountId: string): Promise<AccountView> {
    const [balances, recent, lastCurrency] = await Promise.all([
      this.reads.balances(accountId),
      this.reads.search({ accountId, limit: 10 }),
      this.reads.lastCurrency(accountId),
    ]);
    const currency = (CURRENCIES as readonly string[]).includes(lastCurrency ?? '')
      ? (lastCurrency as Currency)
      : CURRENCIES[0];
    const quota = await this.quota(accountId, currency);
    return {
      accountId,
      balances,
      providerQuota: quota.quota,
      providerQuotaError: quota.error,
      recentRecharges: recent.data,
    };
  }

  private async quota(accountId: string, currency: Currency): Promise<CachedQuota> {
    const key = `${accountId}:${currency}`;
    const now = this.clock.now().getTime();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached;
    let entry: CachedQuota;
    try {
      const answer = await this.provider.availableQuota(accountId, currency);
      entry = {
        quota: { amount: answer.available.minor, currency: answer.available.currency, at: this.clock.now() },
        error: null,
        until: now + AccountViewUseCase.QUOTA_TTL_MS,
      };
    } catch (err) {
      // Adapter errors are DomainErrors whose messages carry no secrets; anything else is not shown.
      const message = err instanceof DomainError ? err.message : 'the provider did not answer the quota query';
      this.logger.warn({ accountId, err }, `provider quota unavailable for ${accountId}`);
      entry = {
        quota: null,
        error: `provider quota unavailable: ${message}`,
        until: now + AccountViewUseCase.ERROR_TTL_MS,
      };
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, entry);
    return entry;
  }
}
