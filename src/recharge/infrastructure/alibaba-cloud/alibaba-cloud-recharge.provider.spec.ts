import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { DomainError } from '../../../../libs/shared/domain-error';
import { ProviderOutcome } from '../../application/ports/recharge-provider';
import { Money } from '../../domain/money';
import { CreditParameters } from '../../domain/recharge';
import { AlibabaCloudRechargeProvider } from './alibaba-cloud-recharge.provider';
import { AlibabaCloudConfig } from './alibaba-cloud.config';

/** A few canned BssOpenApi answers over real HTTP, so pop-core's wire behaviour is what is tested. */
interface Received {
  method: string;
  url: string;
  contentType: string | undefined;
  params: Record<string, string>;
}
type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => void;

const ACCESS_KEY_ID = 'LTAI-test-key-id';
const ACCESS_KEY_SECRET = 'test-secret-never-logged';

let server: Server;
let endpoint: string;
let handler: Handler;
let received: Received[];
const outcomes: ProviderOutcome[] = [];

const json =
  (status: number, body: object, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
const ok = (data: string): Handler =>
  json(200, {
    Code: '200',
    Message: 'successful',
    Data: data,
    RequestId: 'D6E068C3-25BC-455A-85FE-45F0B22ECB1F',
    Success: true,
  });
const bssError = (status: number, code: string, message: string, headers: Record<string, string> = {}): Handler =>
  json(status, { RequestId: 'E1', HostId: 'business.aliyuncs.com', Code: code, Message: message }, headers);

const provider = (overrides: Partial<AlibabaCloudConfig> = {}) =>
  new AlibabaCloudRechargeProvider({
    endpoint,
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: ACCESS_KEY_SECRET,
    timeoutMs: 1000,
    businessType: 'quota_amount_adjust',
    source: 'alicloud-recharge',
    ...overrides,
  });

const parametersOf = (amount: Money, overrides: Partial<CreditParameters> = {}): CreditParameters => ({
  ownerId: '1234567890123456789',
  amount: amount.toMajorString(),
  currency: amount.currency,
  businessType: 'quota_amount_adjust',
  source: 'alicloud-recharge',
  ...overrides,
});

const credit = async (
  amount = Money.of(4999, 'CNY'),
  overrides: Partial<AlibabaCloudConfig> = {},
  parameters: Partial<CreditParameters> = {},
) => {
  const outcome = await provider(overrides).submitCredit({
    rechargeId: 'rch_01JTEST',
    attempt: 1,
    parameters: parametersOf(amount, parameters),
  });
  outcomes.push(outcome);
  return outcome;
};

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      const query = new URL(req.url ?? '/', 'http://stub').searchParams;
      const params = Object.fromEntries([...query, ...new URLSearchParams(raw)]);
      received.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], params });
      handler(req, res, params);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  received = [];
  handler = ok('300.00');
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('AlibabaCloudRechargeProvider.submitCredit', () => {
  it('POSTs a signed ChangeResellerConsumeAmount form and succeeds on Success=true, Code 200', async () => {
    await expect(credit()).resolves.toEqual({
      kind: 'succeeded',
      providerReference: 'D6E068C3-25BC-455A-85FE-45F0B22ECB1F',
      requestId: 'D6E068C3-25BC-455A-85FE-45F0B22ECB1F',
      httpStatus: 200,
    });

    expect(received).toHaveLength(1);
    const [{ method, url, contentType, params }] = received;
    expect(method).toBe('POST');
    expect(url).toBe('/');
    expect(contentType).toBe('application/x-www-form-urlencoded');
    expect(params).toEqual(
      expect.objectContaining({
        Action: 'ChangeResellerConsumeAmount',
        Version: '2017-12-14',
        Format: 'JSON',
        AccessKeyId: ACCESS_KEY_ID,
        SignatureMethod: 'HMAC-SHA1',
        OwnerId: '1234567890123456789',
        AdjustType: 'decrease',
        Amount: '49.99',
        Currency: 'CNY',
        BusinessType: 'quota_amount_adjust',
        Source: 'alicloud-recharge',
        OutBizId: 'rch_01JTEST',
        Signature: expect.any(String),
      }),
    );
    expect(Object.values(params)).not.toContain('undefined');
    expect(Object.values(params)).not.toContain('null');
  });

  it('sends the stored parameters of the first send, never its own configuration', async () => {
    await credit(
      Money.of(4999, 'CNY'),
      { businessType: 'changed_since', source: 'renamed-since' },
      { businessType: 'quota_amount_adjust', source: 'first-source', amount: '49.99', ownerId: '42' },
    );
    expect(received[0].params).toEqual(
      expect.objectContaining({
        OwnerId: '42',
        Amount: '49.99',
        Currency: 'CNY',
        BusinessType: 'quota_amount_adjust',
        Source: 'first-source',
        OutBizId: 'rch_01JTEST',
      }),
    );
  });

  it('sends JPY in whole yen and never sends an absent parameter as "undefined"', async () => {
    await credit(Money.of(4999, 'JPY'), {}, { source: undefined as unknown as string });
    const { params } = received[0];
    expect(params).toEqual(expect.objectContaining({ Amount: '4999', Currency: 'JPY' }));
    expect(params).not.toHaveProperty('Source');
    expect(Object.values(params)).not.toContain('undefined');
  });

  it('does not count a 200 body with Success=false as success', async () => {
    handler = json(200, { Code: '200', Message: 'not done', RequestId: 'R', Success: false });
    await expect(credit()).resolves.toEqual({
      kind: 'retryable',
      providerCode: null,
      message: 'provider answered Success=false: not done',
      requestId: 'R',
      httpStatus: 200,
    });
  });

  it('treats a JSON body without the BSS envelope as an unknown outcome', async () => {
    handler = json(200, { status: 'accepted' });
    await expect(credit()).resolves.toMatchObject({ kind: 'unknown', providerCode: null });
  });

  it('maps throttling to retryable and passes x-acs-retry-after on', async () => {
    handler = bssError(400, 'Throttling.User', 'Request was denied due to user flow control.', {
      'x-acs-retry-after': '1000',
    });
    await expect(credit()).resolves.toEqual({
      kind: 'retryable',
      providerCode: 'Throttling.User',
      message: 'Request was denied due to user flow control.',
      retryAfterMs: 1000,
      notApplied: true,
      requestId: 'E1',
      httpStatus: 400,
    });
  });

  it('maps NotAuthorized to rejected, keeping the provider code', async () => {
    handler = bssError(400, 'NotAuthorized', 'This API is not authorized for caller.');
    await expect(credit()).resolves.toEqual({
      kind: 'rejected',
      providerCode: 'NotAuthorized',
      message: 'This API is not authorized for caller.',
      requestId: 'E1',
      httpStatus: 400,
    });
  });

  it.each(['IdempotentParameterMismatch', '-303'])(
    'maps %s to conflict: the OutBizId exists, never a failure',
    async (code) => {
      handler = bssError(400, code, 'Record is exists already.');
      await expect(credit()).resolves.toEqual({
        kind: 'conflict',
        providerCode: code,
        message: 'Record is exists already.',
        requestId: 'E1',
        httpStatus: 400,
      });
    },
  );

  it.each(['-1101', 'InternalError'])('maps a 400 %s to retryable that may have been applied', async (code) => {
    handler = bssError(400, code, 'The request processing has failed due to some unknown error.');
    const outcome = await credit();
    expect(outcome).toMatchObject({ kind: 'retryable', providerCode: code, httpStatus: 400 });
    expect(outcome).not.toHaveProperty('notApplied');
  });

  it('scrubs the string to sign that SignatureDoesNotMatch echoes', async () => {
    handler = (_req, res, params) =>
      bssError(
        400,
        'SignatureDoesNotMatch',
        `Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3D${params.AccessKeyId}%26OwnerId%3D${params.OwnerId}`,
      )(_req, res, params);
    const outcome = await credit();
    expect(outcome).toMatchObject({ kind: 'rejected', providerCode: 'SignatureDoesNotMatch' });
    expect(JSON.stringify(outcome)).not.toContain(ACCESS_KEY_ID);
  });

  it('maps an HTML 503 page to retryable', async () => {
    handler = (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end('<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>');
    };
    await expect(credit()).resolves.toMatchObject({ kind: 'retryable', providerCode: null });
  });

  it('maps a response slower than timeoutMs to unknown: the credit may have been applied', async () => {
    handler = () => undefined; // never answers; afterAll closes the socket
    const started = Date.now();
    await expect(credit(undefined, { timeoutMs: 200 })).resolves.toMatchObject({ kind: 'unknown', providerCode: null });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(received).toHaveLength(1);
  });

  it('maps a connection dropped after the request arrived to unknown', async () => {
    handler = (req) => req.socket.destroy();
    await expect(credit()).resolves.toMatchObject({ kind: 'unknown', providerCode: null });
    expect(received).toHaveLength(1);
  });

  it('maps a refused connection to retryable: nothing was sent', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(credit(undefined, { endpoint: `http://127.0.0.1:${port}` })).resolves.toMatchObject({
      kind: 'retryable',
      providerCode: null,
    });
  });

  it('never puts a signature, the access key id or the secret in any outcome', () => {
    expect(outcomes.length).toBeGreaterThan(8);
    const all = JSON.stringify(outcomes);
    expect(all).not.toContain('Signature=');
    expect(all).not.toContain(ACCESS_KEY_SECRET);
    expect(all).not.toContain(ACCESS_KEY_ID);
  });
});

describe('AlibabaCloudRechargeProvider.availableQuota', () => {
  it('queries QueryResellerAvailableQuota by OwnerId string and parses Data exactly', async () => {
    handler = ok('300.10');
    await expect(provider().availableQuota('1234567890123456789', 'CNY')).resolves.toEqual({
      accountId: '1234567890123456789',
      available: Money.of(30010, 'CNY'),
      requestId: 'D6E068C3-25BC-455A-85FE-45F0B22ECB1F',
      httpStatus: 200,
    });
    expect(received[0].params).toEqual(
      expect.objectContaining({ Action: 'QueryResellerAvailableQuota', OwnerId: '1234567890123456789' }),
    );
  });

  it('throws PROVIDER_ERROR with the code and a scrubbed message on a provider error', async () => {
    handler = bssError(400, '-304', 'Record is not exists.');
    const error = await provider()
      .availableQuota('1', 'CNY')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({
      code: 'PROVIDER_ERROR',
      message: '-304: Record is not exists.',
      providerCode: '-304',
      answer: { requestId: 'E1', httpStatus: 400 },
    });
  });

  it('throws PROVIDER_ERROR on an amount the currency cannot hold', async () => {
    handler = ok('300.5');
    await expect(provider().availableQuota('1', 'JPY')).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
  });
});
