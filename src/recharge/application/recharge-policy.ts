import { FieldError } from '../../../libs/shared/domain-error';
import { Currency } from '../domain/money';

/** The configurable limits a recharge request must respect (docs/api.md, docs/callbacks.md and docs/configuration.md). */
export abstract class RechargePolicy {
  abstract readonly maxRechargeAmount: number;
  abstract readonly supportedCurrencies: readonly Currency[];
  abstract readonly callbackAllowedHosts: readonly string[];
}

/**
 * `*.example.com` matches any subdomain (not the apex); plain names match exactly; any port.
 * Configuration refuses wildcards with fewer than two labels after `*.` (`*.com`).
 */
export function isAllowedCallbackHost(hostname: string, allowed: readonly string[]): boolean {
  const host = hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  return allowed.some((pattern) => {
    const p = pattern.toLowerCase();
    return p.startsWith('*.') ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : host === p;
  });
}

/**
 * The one check of a client's callbackUrl (recharges and rules alike); null when it is acceptable.
 * The URL's syntax and scheme are the DTO's business; this is the policy part.
 */
export function callbackUrlProblem(url: string, allowed: readonly string[]): FieldError | null {
  const parsed = new URL(url);
  if (parsed.username || parsed.password) {
    // Credentials in a URL end up in logs and stored errors; receivers authenticate by signature.
    return { field: 'callbackUrl', message: 'callbackUrl must not carry user info (user:password@)' };
  }
  if (!isAllowedCallbackHost(parsed.hostname, allowed)) {
    return { field: 'callbackUrl', message: 'callbackUrl host is not in CALLBACK_ALLOWED_HOSTS' };
  }
  return null;
}
