import { promises as dns, LookupAddress } from 'node:dns';
import { isIP, LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { redactSecrets } from '../../../../libs/shared/redact';
import { CallbackDelivery, CallbackSender, DeliveryAttempt } from '../../application/ports/callback-outbox';
import { isAllowedCallbackHost } from '../../application/recharge-policy';
import { refusedAddressReason } from './callback-address.policy';

/** At most this much of a receiver's answer is read; only its status matters. */
export const MAX_CALLBACK_RESPONSE_BYTES = 64 * 1024;

export interface HttpCallbackSenderOptions {
  /** CALLBACK_ALLOWED_HOSTS, checked again at every attempt (a host may have been removed since). */
  allowedHosts: readonly string[];
  /** CALLBACK_ALLOW_PRIVATE_NETWORKS: lets loopback, private and other special addresses through. */
  allowPrivateNetworks: boolean;
  /** Whole attempt: connect, send, headers and the (bounded) body. */
  timeoutMs?: number;
  /** Name → addresses, once per attempt. The system resolver by default; tests inject changing answers. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
  /** Why an address is refused (null: allowed). The special-purpose ranges by default. */
  refuseAddress?: (address: string) => string | null;
}

const systemResolve = (hostname: string) => dns.lookup(hostname, { all: true, verbatim: true });

/** A `lookup` for the socket that answers with the addresses already checked: no second resolution. */
function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
    } else {
      callback(null, addresses[0].address, addresses[0].family);
    }
  };
}

/**
 * POSTs a callback signed per Standard Webhooks with the client's secret. Every attempt checks
 * the destination again: the host must still be in the allowlist, and every address it resolves
 * to must be public unless private networks are allowed. The connection then goes to exactly
 * those addresses (a pinned lookup), so DNS answering differently between the check and the
 * connect (rebinding) cannot steer it inside. Redirects are never followed; at most 64 KB of the
 * answer is read.
 */
export class HttpCallbackSender extends CallbackSender {
  private readonly timeoutMs: number;
  private readonly resolve: (hostname: string) => Promise<LookupAddress[]>;
  private readonly refuseAddress: (address: string) => string | null;

  constructor(private readonly options: HttpCallbackSenderOptions) {
    super();
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.resolve = options.resolve ?? systemResolve;
    this.refuseAddress = options.allowPrivateNetworks ? () => null : (options.refuseAddress ?? refusedAddressReason);
  }

  async send(d: CallbackDelivery, at: Date): Promise<DeliveryAttempt> {
    const started = Date.now();
    const result = (statusCode: number | null, error: string | null, abandoned = false): DeliveryAttempt => ({
      statusCode,
      latencyMs: Date.now() - started,
      error: error === null ? null : redactSecrets(error).slice(0, 300),
      ...(abandoned ? { abandoned } : {}),
    });

    let url: URL;
    try {
      url = new URL(d.url);
    } catch {
      return result(null, 'refused: the callbackUrl is not a URL', true);
    }
    if (url.username || url.password) return result(null, 'refused: the callbackUrl carries user info', true);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return result(null, `refused: ${url.protocol} is not http or https`, true);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!isAllowedCallbackHost(host, this.options.allowedHosts)) {
      return result(null, `abandoned: ${host} is no longer in CALLBACK_ALLOWED_HOSTS`, true);
    }

    let addresses: LookupAddress[];
    try {
      addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await this.resolve(host);
    } catch (err) {
      return result(null, `cannot resolve ${host}: ${describe(err)}`);
    }
    if (addresses.length === 0) return result(null, `cannot resolve ${host}: no addresses`);
    for (const { address } of addresses) {
      const reason = this.refuseAddress(address);
      if (reason !== null) {
        return result(
          null,
          `refused: ${host} resolves to ${address} (${reason}); CALLBACK_ALLOW_PRIVATE_NETWORKS is not set`,
        );
      }
    }

    const signature = new Webhook(d.webhookSecret).sign(d.id, at, d.payload);
    const agent = new Agent({
      connect: { lookup: pinnedLookup(addresses), timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      maxRedirections: 0,
      pipelining: 0,
    });
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: agent,
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'alicloud-recharge-callbacks/1',
          'webhook-id': d.id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: d.payload,
      });
      await readAtMost(response.body, MAX_CALLBACK_RESPONSE_BYTES);
      const status = response.statusCode;
      const ok = status >= 200 && status < 300;
      const redirect = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
      return result(status, ok ? null : `HTTP ${status}${redirect}`);
    } catch (err) {
      return result(null, describe(err));
    } finally {
      agent.destroy().catch(() => undefined);
    }
  }
}

/** Reads up to `limit` bytes and drops the rest by closing the stream (and its connection). */
async function readAtMost(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<number> {
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (read >= limit) {
      body.destroy();
      break;
    }
  }
  return read;
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const prefix = cause ?? code;
  return (prefix && !message.includes(prefix) ? `${prefix} ` : '') + message;
}
