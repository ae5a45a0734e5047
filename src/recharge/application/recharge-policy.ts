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
