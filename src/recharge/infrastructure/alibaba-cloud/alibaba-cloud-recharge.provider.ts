import RPCClient = require('@alicloud/pop-core');
import {
  AvailableQuota,
  CreditRequest,
  ProviderAnswer,
  ProviderOutcome,
  ProviderQueryError,
  RechargeProvider,
} from '../../application/ports/recharge-provider';
import { Currency, Money } from '../../domain/money';
import { AlibabaCloudConfig } from './alibaba-cloud.config';
import { classifyProviderCode, classifyProviderError, scrubProviderMessage } from './provider-error-classifier';

/**
 * The slice of pop-core's RPCClient this adapter uses; tests may pass their own. pop-core in
 * verbose mode answers `[body, entry]` (entry carries the HTTP status); a plain body is accepted too.
 */
export interface PopRpcClient {
  request<T>(action: string, params: object, opts?: object): Promise<T>;
}

interface Answered {
  body: BssEnvelope;
  answer: ProviderAnswer;
}

interface BssEnvelope {
  Code?: unknown;
  Message?: unknown;
  RequestId?: unknown;
  Success?: unknown;
  Data?: unknown;
}

const API_VERSION = '2017-12-14';
// pop-core's constructor takes a second argument, `verbose`, that its type declarations omit.
const VerboseRpcClient = RPCClient as unknown as new (config: RPCClient.Config, verbose: boolean) => PopRpcClient;
// pop-core's default success set; BSS answers "200" for these operations, other BSS APIs "Success".
const SUCCESS_CODES = new Set(['200', 'OK', 'Success', 'success']);
const isSuccessCode = (code: unknown): boolean => code != null && SUCCESS_CODES.has(String(code));

export class AlibabaCloudRechargeProvider extends RechargeProvider {
  private readonly client: PopRpcClient;

  constructor(
    private readonly config: AlibabaCloudConfig,
    client?: PopRpcClient,
  ) {
    super();
    this.client =
      client ??
      new VerboseRpcClient(
        {
          endpoint: config.endpoint,
          apiVersion: API_VERSION,
          accessKeyId: config.accessKeyId,
          accessKeySecret: config.accessKeySecret,
        },
        // verbose: also hand back the HTTP exchange, for the status kept in the provider call log.
        true,
      );
  }

  async submitCredit(request: CreditRequest): Promise<ProviderOutcome> {
    const p = request.parameters;
    let answered: Answered;
    try {
      // Every value comes from the parameters stored at the first send, none from today's config:
      // a provider comparing a repeated OutBizId's parameters must see the same ones.
      answered = await this.call('ChangeResellerConsumeAmount', {
        OwnerId: p.ownerId,
        // "decrease" lowers the customer's consumed quota: BSS's word for a top-up.
        AdjustType: 'decrease',
        Amount: p.amount,
        Currency: p.currency,
        BusinessType: p.businessType,
        Source: p.source,
        // The provider's idempotency key: a re-send after an unknown outcome must reuse it.
        OutBizId: request.rechargeId,
      });
    } catch (err) {
      return classifyProviderError(err);
    }
    const { body, answer } = answered;
    if (body.Success === true && isSuccessCode(body.Code)) {
      // The documented response carries no transaction number (Data is the ledger's new consumed
      // amount), so the RequestId of the confirming call is the only reference Alibaba gives us.
      return { kind: 'succeeded', providerReference: answer.requestId ?? null, ...answer };
    }
    const message = scrubProviderMessage(typeof body.Message === 'string' ? body.Message : 'no message');
    if (body.Success === false) {
      // pop-core only throws for non-success codes, so this is a "200"-coded body that still says no.
      if (body.Code != null && !isSuccessCode(body.Code))
        return classifyProviderCode(String(body.Code), message, undefined, answer);
      return {
        kind: 'retryable',
        providerCode: null,
        message: `provider answered Success=false: ${message}`,
        ...answer,
      };
    }
    // No BSS envelope (a proxy's JSON?): we cannot tell whether the credit reached BSS.
    return {
      kind: 'unknown',
      providerCode: null,
      message: `provider answered without a Success flag: ${message}`,
      ...answer,
    };
  }

  async availableQuota(accountId: string, currency: Currency): Promise<AvailableQuota> {
    let answered: Answered;
    try {
      answered = await this.call('QueryResellerAvailableQuota', { OwnerId: accountId });
    } catch (err) {
      const failure = classifyProviderError(err);
      throw new ProviderQueryError(
        `${failure.providerCode ?? failure.kind}: ${failure.message}`,
        failure.providerCode,
        {
          requestId: failure.requestId ?? null,
          httpStatus: failure.httpStatus ?? null,
        },
      );
    }
    const { body, answer } = answered;
    const data = body.Data;
    // json-bigint hands back a number or a BigNumber if Data ever arrives unquoted.
    const text =
      typeof data === 'string' ||
      typeof data === 'number' ||
      (typeof data === 'object' && data !== null && '_isBigNumber' in data)
        ? String(data)
        : null;
    if (body.Success !== true || !isSuccessCode(body.Code) || text === null) {
      throw new ProviderQueryError(
        `unexpected QueryResellerAvailableQuota answer (Code ${String(body.Code)})`,
        body.Code == null ? null : String(body.Code),
        answer,
      );
    }
    try {
      // The quota ledger has a single currency that the answer does not name: the caller's is trusted.
      return { accountId, available: Money.fromMajorString(text, currency), ...answer };
    } catch {
      throw new ProviderQueryError(
        `QueryResellerAvailableQuota answered an unreadable amount for ${currency}`,
        null,
        answer,
      );
    }
  }

  private async call(action: string, params: Record<string, string | undefined | null>): Promise<Answered> {
    // pop-core would send undefined/null as the strings "undefined"/"null".
    const defined = Object.fromEntries(Object.entries(params).filter(([, value]) => value != null));
    const body = await this.client.request<unknown>(action, defined, {
      // Uppercase on purpose: pop-core signs `method.toUpperCase()` but builds a form body only when
      // it sees exactly 'POST'; 'post' would put every parameter, Signature included, in the URL.
      method: 'POST',
      timeout: this.config.timeoutMs,
      // pop-core would otherwise capitalise our keys; they are already the wire names.
      formatParams: false,
    });
    const [json, entry] = Array.isArray(body) && body.length === 2 ? body : [body, null];
    const envelope: BssEnvelope = typeof json === 'object' && json !== null ? (json as BssEnvelope) : {};
    const status = (entry as { response?: { statusCode?: unknown } } | null)?.response?.statusCode;
    return {
      body: envelope,
      answer: {
        requestId: typeof envelope.RequestId === 'string' ? envelope.RequestId : null,
        httpStatus: typeof status === 'number' ? status : null,
      },
    };
  }
}
