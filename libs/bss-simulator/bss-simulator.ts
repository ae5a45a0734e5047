import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { BssError, bssErrors, injectedError } from './bss-errors';
import { AccountInput, AccountView, AppliedCredit, BssLedger, RepeatAnswer, Site } from './bss-ledger';
import { createSeededRandom, FaultInjector, FaultRule, parseFaultRules } from './fault-injector';
import { FlowControl } from './flow-control';
import { Currency, formatMinorAmount, isCurrency, parseMajorAmount } from './money';
import { RequestStats, SimulatorStats } from './request-stats';
import { hmacSha1Signature, RpcParams, signaturesEqual, stringToSign } from './rpc-signature';
import { CloudEvent, NotifyOptions, WebhookNotifier } from './webhook-notifier';

/**
 * An Alibaba Cloud BssOpenApi (2017-12-14) endpoint that the unmodified @alicloud/pop-core RPCClient
 * can talk to: gateway checks in the real order (params → AK → timestamp → signature → nonce →
 * flow control), the reseller quota ledgers behind them, fault injection and push notifications.
 * Facts and their confidence are in the BSS reference (§2–§5, §8, §9).
 */
export interface SimulatorCredential {
  accessKeyId: string;
  accessKeySecret: string;
  /** What QueryAccountBalance reports for this caller (major units); default "1000000.00" CNY. */
  balance?: string;
  currency?: Currency;
}

export interface BssSimulatorOptions {
  /** 0 picks a free port. Default 8089. */
  port?: number;
  host?: string;
  /** Default: one pair, sim-access-key-id / sim-access-key-secret. */
  credentials?: SimulatorCredential[];
  /** Calls per second per caller and Action (default 10). A record sets it per Action, '*' for the rest; 0 = off. */
  rateLimitPerSecond?: number | Record<string, number>;
  /** The HTTP status of Throttling.User; 400 as observed, though some products answer 429. */
  throttleHttpStatus?: number;
  /** Add `x-acs-retry-after: <ms>` to throttling answers (newer SDKs honour it; pop-core ignores it). */
  throttleRetryAfterHeader?: boolean;
  /** Accepted clock skew either way; the docs say 15 or 31 minutes. Default 15 minutes. */
  timestampWindowMs?: number;
  /** Added to every answered call. */
  latencyMs?: number;
  /** Open a ledger (quota 0) the first time an unknown OwnerId is used. Default true. */
  autoCreateAccounts?: boolean;
  /** Dedupe ChangeResellerConsumeAmount on OutBizId. Default true; false models a provider that does not. */
  idempotency?: boolean;
  /** What a repeated OutBizId (same parameters) gets unless a repeatOutBizId fault rule says otherwise. Default: the first result. */
  repeatOutBizId?: RepeatAnswer;
  /** Ledgers opened at start (and again by reset), e.g. with a spendPerMinute for a demo. */
  accounts?: Array<AccountInput & { ownerId: string }>;
  /** Wall clock (ms) for the accounts' spending; Date.now by default. */
  clock?: () => number;
  /** The endpoint this simulator plays: 'china' (business.aliyuncs.com, default) or 'intl'. */
  site?: Site;
  /** Seed for probabilistic faults and notification shuffling. Default 1. */
  seed?: number;
  faults?: FaultRule[];
  notify?: NotifyOptions;
  log?: (msg: string) => void;
}

export interface BssSimulator {
  /** e.g. http://127.0.0.1:8089, usable as the pop-core endpoint. */
  readonly url: string;
  readonly port: number;
  addFaults(rules: FaultRule[]): void;
  clearFaults(): void;
  faults(): FaultRule[];
  stats(): SimulatorStats;
  credits(): AppliedCredit[];
  account(ownerId: string): AccountView | undefined;
  setAccount(ownerId: string, account: AccountInput): AccountView;
  /** Sends a notification now, e.g. notify('Failed', {...}); `type` may be short ('Failed') or full. */
  notify(type: string, data: unknown, subject?: string): CloudEvent;
  /** Back to the state right after start: ledgers, credits, nonces, stats, faults (from options). */
  reset(): void;
  close(): Promise<void>;
}

export const BSS_API_VERSION = '2017-12-14';
export const DEFAULT_CREDENTIAL: SimulatorCredential = {
  accessKeyId: 'sim-access-key-id',
  accessKeySecret: 'sim-access-key-secret',
};

const ACTIONS = new Set([
  'CreateResellerUserQuota',
  'SetResellerUserQuota',
  'ChangeResellerConsumeAmount',
  'QueryResellerAvailableQuota',
  'QueryAccountBalance',
]);
const REQUIRED_COMMON_PARAMS = [
  'AccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
  'Timestamp',
];
const NONCE_TTL_MS = 15 * 60_000;
const MAX_BODY_BYTES = 1024 * 1024;
const HOSTS: Record<Site, string> = { china: 'business.aliyuncs.com', intl: 'business.ap-southeast-1.aliyuncs.com' };
// What a load balancer in front of the gateway answers; pop-core cannot parse it as JSON.
const HTML_5XX =
  '<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>';

type Reply =
  | { kind: 'json'; status: number; body: object; headers: Record<string, string>; outcome: string }
  | { kind: 'html'; status: number; outcome: string }
  | { kind: 'drop'; outcome: string };

export async function createBssSimulator(options: BssSimulatorOptions = {}): Promise<BssSimulator> {
  const simulator = new SimulatorServer(options);
  await simulator.listen(options.port ?? 8089, options.host ?? '127.0.0.1');
  return simulator;
}

class SimulatorServer implements BssSimulator {
  url = '';
  port = 0;
  private readonly server = createServer((req, res) => void this.route(req, res));
  private readonly credentialsById: Map<string, SimulatorCredential>;
  private readonly ledger: BssLedger;
  private readonly flowControl: FlowControl;
  private readonly notifier?: WebhookNotifier;
  private readonly site: Site;
  private readonly log: (msg: string) => void;
  private random: () => number;
  private injector: FaultInjector;
  private requestStats = new RequestStats();
  private readonly nonces = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly options: BssSimulatorOptions) {
    this.log = options.log ?? (() => undefined);
    this.site = options.site ?? 'china';
    const credentials = options.credentials ?? [DEFAULT_CREDENTIAL];
    credentials.forEach(balanceOf); // reject a bad balance at start
    this.credentialsById = new Map(credentials.map((c) => [c.accessKeyId, c]));
    this.flowControl = new FlowControl(rateLookup(options.rateLimitPerSecond));
    this.random = createSeededRandom(options.seed ?? 1);
    // Through this.random so reset() can re-seed without rewiring.
    this.injector = new FaultInjector(() => this.random());
    this.injector.add(options.faults ?? []);
    this.ledger = new BssLedger(
      {
        autoCreateAccounts: options.autoCreateAccounts ?? true,
        idempotency: options.idempotency ?? true,
        site: this.site,
        now: options.clock,
      },
      (credit) => this.onCreditApplied(credit),
    );
    this.openAccounts();
    if (options.notify) {
      this.notifier = new WebhookNotifier(
        options.notify,
        () => this.random(),
        (delivered) => this.requestStats.notification(delivered),
        this.log,
      );
    }
  }

  async listen(port: number, host: string): Promise<void> {
    // POP gateways keep idle connections for 25 s; pop-core pools sockets, so avoid closing under it.
    this.server.keepAliveTimeout = 25_000;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  addFaults(rules: FaultRule[]): void {
    this.injector.add(rules);
  }

  clearFaults(): void {
    this.injector.clear();
  }

  faults(): FaultRule[] {
    return this.injector.list();
  }

  stats(): SimulatorStats {
    return this.requestStats.snapshot();
  }

  credits(): AppliedCredit[] {
    return this.ledger.credits();
  }

  account(ownerId: string): AccountView | undefined {
    return this.ledger.account(ownerId);
  }

  setAccount(ownerId: string, account: AccountInput): AccountView {
    return this.ledger.setAccount(ownerId, account);
  }

  notify(type: string, data: unknown, subject?: string): CloudEvent {
    if (!this.notifier) throw new Error('notifications are not configured (options.notify)');
    const fullType = type.includes(':') ? type : `bss:Recharge:${type}`;
    const outBizId = (data as { OutBizId?: unknown } | null)?.OutBizId;
    return this.notifier.publish(fullType, subject ?? (typeof outBizId === 'string' ? outBizId : ''), data);
  }

  reset(): void {
    this.ledger.reset();
    this.openAccounts();
    this.flowControl.reset();
    this.nonces.clear();
    this.requestStats = new RequestStats();
    this.random = createSeededRandom(this.options.seed ?? 1);
    this.injector = new FaultInjector(() => this.random());
    this.injector.add(this.options.faults ?? []);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Calls parked in a delay are abandoned rather than answered after close.
    for (const timer of this.timers) clearTimeout(timer);
    this.notifier?.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private openAccounts(): void {
    for (const { ownerId, ...account } of this.options.accounts ?? []) this.ledger.setAccount(ownerId, account);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The arrival time for the rate statistics, taken before anything else: reading the body
    // takes another turn of the event loop, and a stall there would bunch arrivals that were apart.
    const arrivedAt = { monotonic: performance.now(), wall: Date.now() };
    try {
      const url = new URL(req.url ?? '/', 'http://simulator');
      const body = await readBody(req);
      if (url.pathname.startsWith('/__admin/')) this.handleAdmin(req.method ?? '', url.pathname, body, res);
      else await this.handleApi(req, res, url, body, arrivedAt);
    } catch (err) {
      this.log(`simulator: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent && !res.destroyed) sendJson(res, 400, { error: (err as Error).message });
    }
  }

  private async handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: string,
    arrivedAt: { monotonic: number; wall: number },
  ): Promise<void> {
    const params = collectParams(url, body, req.headers['content-type']);
    const action = params.Action || '(none)';
    const requestId = randomUUID().toUpperCase();
    this.requestStats.arrived(action, arrivedAt);
    const reply = await this.process(req.method ?? '', url.pathname, params, requestId).catch((err: unknown) =>
      this.errorReply(err, requestId),
    );
    if (reply.kind === 'drop') {
      // The credit is applied but the caller never learns it: the "unknown outcome" case.
      req.socket.destroy();
    } else {
      await this.sleep(this.options.latencyMs ?? 0);
      writeReply(res, reply, requestId);
    }
    this.requestStats.answered(action, reply.outcome);
  }

  private async process(method: string, path: string, params: RpcParams, requestId: string): Promise<Reply> {
    if (path !== '/' || (method !== 'GET' && method !== 'POST')) throw bssErrors.apiNotFound();
    const caller = this.authenticate(method, params);
    const action = params.Action!;
    const retryAfterMs = this.flowControl.tryAdmit(caller.accessKeyId, action, performance.now());
    if (retryAfterMs !== undefined) throw this.throttled(retryAfterMs);

    const repeat = action === 'ChangeResellerConsumeAmount' && this.ledger.hasApplied(params.OutBizId);
    const fault = this.injector.take({ action, ownerId: params.OwnerId, repeat });
    if (fault) this.log(`simulator: fault ${fault.fault} on ${action} ${params.OutBizId ?? ''}`);
    switch (fault?.fault) {
      case 'throttle':
        throw this.throttled(1000);
      case 'notAuthorized':
        throw bssErrors.notAuthorized();
      case 'reject':
        throw injectedError(fault.code!, fault.status);
      case 'error5xx': {
        // Nothing is applied: a 5xx here means the request never reached the ledger.
        const status = fault.status ?? 503;
        if (fault.html) return { kind: 'html', status, outcome: 'ServiceUnavailable' };
        throw bssErrors.serviceUnavailable(status);
      }
      case 'delay':
        // Applied after the wait even if the client timed out meanwhile, as a slow real backend would.
        await this.sleep(fault.delayMs ?? 0);
        break;
    }

    const repeatAnswer: RepeatAnswer | undefined =
      fault?.fault !== 'repeatOutBizId'
        ? undefined
        : fault.answer === 'error'
          ? { answer: 'error', code: fault.code ?? '-303', status: fault.status }
          : { answer: fault.answer ?? 'first' };
    const { data, outcome } = this.runAction(action, params, caller, repeatAnswer);
    if (fault?.fault === 'applyThenDrop') return { kind: 'drop', outcome: 'dropped' };
    return {
      kind: 'json',
      status: 200,
      headers: {},
      outcome: outcome === 'applied' ? 'success' : outcome,
      body: { Code: '200', Message: 'Successful!', RequestId: requestId, Success: true, Data: data },
    };
  }

  /** Gateway checks in a fixed order; the real gateway's order is unconfirmed (reference §3.2). */
  private authenticate(method: string, params: RpcParams): SimulatorCredential {
    if (!params.Action) throw bssErrors.missingParameter('Action');
    if (!params.Version) throw bssErrors.missingParameter('Version');
    if (params.Version !== BSS_API_VERSION || !ACTIONS.has(params.Action)) throw bssErrors.apiNotFound();
    for (const name of REQUIRED_COMMON_PARAMS) if (!params[name]) throw bssErrors.missingParameter(name);
    if (params.SignatureMethod !== 'HMAC-SHA1') throw bssErrors.invalidCommonParameter('SignatureMethod');
    if (params.SignatureVersion !== '1.0') throw bssErrors.invalidCommonParameter('SignatureVersion');

    const caller = this.credentialsById.get(params.AccessKeyId!);
    if (!caller) throw bssErrors.accessKeyNotFound();

    const timestamp = parseTimestamp(params.Timestamp!);
    if (timestamp === undefined) throw bssErrors.timestampMalformed();
    if (Math.abs(Date.now() - timestamp) > (this.options.timestampWindowMs ?? 15 * 60_000))
      throw bssErrors.timestampExpired();

    // The ACTUAL method: pop-core's lowercase 'post' signs POST and sends POST, with params in the query.
    const serverStringToSign = stringToSign(method, params);
    if (!signaturesEqual(hmacSha1Signature(serverStringToSign, caller.accessKeySecret), params.Signature!)) {
      throw bssErrors.signatureMismatch(serverStringToSign);
    }

    // Only a correctly signed request uses up its nonce; whether the scope is per AK is unconfirmed.
    this.useNonce(`${caller.accessKeyId}\u0000${params.SignatureNonce}`);
    return caller;
  }

  private useNonce(key: string): void {
    const now = Date.now();
    // Insertion order is expiry order (fixed TTL), so expired nonces are all at the front.
    for (const [seen, expiresAt] of this.nonces) {
      if (expiresAt > now) break;
      this.nonces.delete(seen);
    }
    if (this.nonces.has(key)) throw bssErrors.nonceUsed();
    this.nonces.set(key, now + NONCE_TTL_MS);
  }

  private runAction(
    action: string,
    params: RpcParams,
    caller: SimulatorCredential,
    repeatAnswer: RepeatAnswer | undefined,
  ): { data: unknown; outcome: string } {
    switch (action) {
      case 'CreateResellerUserQuota':
        return { data: this.ledger.createResellerUserQuota(params), outcome: 'applied' };
      case 'SetResellerUserQuota':
        return { data: this.ledger.setResellerUserQuota(params), outcome: 'applied' };
      case 'ChangeResellerConsumeAmount':
        return this.ledger.changeResellerConsumeAmount(
          params,
          repeatAnswer ?? this.options.repeatOutBizId ?? { answer: 'first' },
        );
      case 'QueryResellerAvailableQuota':
        return { data: this.ledger.queryResellerAvailableQuota(params), outcome: 'applied' };
      case 'QueryAccountBalance':
        return { data: balanceOf(caller), outcome: 'applied' };
      default:
        throw bssErrors.apiNotFound();
    }
  }

  /** Only a top-up ('decrease') is a recharge worth telling the service about. */
  private onCreditApplied(credit: AppliedCredit): void {
    if (!this.notifier || credit.adjustType !== 'decrease') return;
    this.notifier.publish('bss:Recharge:Succeeded', credit.outBizId, {
      OutBizId: credit.outBizId,
      OwnerId: credit.ownerId,
      Amount: formatMinorAmount(BigInt(credit.amountMinor), credit.currency),
      Currency: credit.currency,
      Status: 'SUCCEEDED',
      TransactionNumber: credit.transactionNumber,
      FailureCode: null,
    });
  }

  private throttled(retryAfterMs: number): BssError {
    return bssErrors.throttled(
      this.options.throttleHttpStatus ?? 400,
      this.options.throttleRetryAfterHeader ? retryAfterMs : undefined,
    );
  }

  private errorReply(err: unknown, requestId: string): Reply {
    if (!(err instanceof BssError)) this.log(`simulator: unexpected ${(err as Error).stack ?? String(err)}`);
    const error = err instanceof BssError ? err : bssErrors.undefinedError();
    return {
      kind: 'json',
      status: error.httpStatus,
      headers: error.headers,
      outcome: error.code,
      body: {
        RequestId: requestId,
        HostId: HOSTS[this.site],
        Code: error.code,
        Message: error.message,
        Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(error.code)}&product=BssOpenApi&requestId=${requestId}`,
      },
    };
  }

  private handleAdmin(method: string, path: string, rawBody: string, res: ServerResponse): void {
    let body: unknown;
    try {
      body = rawBody ? JSON.parse(rawBody) : {};
      const fields = (body ?? {}) as Record<string, unknown>;
      const accountPath = /^\/__admin\/accounts\/([^/]+)$/.exec(path);
      switch (`${method} ${path}`) {
        case 'GET /__admin/faults':
          return sendJson(res, 200, { faults: this.faults() });
        case 'POST /__admin/faults':
          this.addFaults(parseFaultRules(body));
          return sendJson(res, 200, { faults: this.faults() });
        case 'DELETE /__admin/faults':
          this.clearFaults();
          return sendJson(res, 200, { faults: [] });
        case 'GET /__admin/stats':
          return sendJson(res, 200, this.stats());
        case 'GET /__admin/credits':
          return sendJson(res, 200, { credits: this.credits() });
        case 'POST /__admin/reset':
          this.reset();
          return sendJson(res, 200, { reset: true });
        case 'POST /__admin/accounts': {
          const { ownerId, ...account } = fields;
          if (typeof ownerId !== 'string') throw new Error('ownerId (a string) is required');
          return sendJson(res, 200, { ownerId, ...this.setAccount(ownerId, account as AccountInput) });
        }
        case 'POST /__admin/notify': {
          if (typeof fields.type !== 'string') throw new Error('type is required, e.g. "bss:Recharge:Failed"');
          const subject = typeof fields.subject === 'string' ? fields.subject : undefined;
          return sendJson(res, 202, this.notify(fields.type, fields.data ?? {}, subject));
        }
      }
      if (method === 'GET' && accountPath) {
        const ownerId = decodeURIComponent(accountPath[1]!);
        const account = this.account(ownerId);
        return account ? sendJson(res, 200, { ownerId, ...account }) : sendJson(res, 404, { error: 'no such account' });
      }
      sendJson(res, 404, { error: `no admin route ${method} ${path}` });
    } catch (err) {
      sendJson(res, 400, { error: (err as Error).message });
    }
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.closed) return; // never resolves: the call is abandoned
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

function rateLookup(setting: BssSimulatorOptions['rateLimitPerSecond']): (action: string) => number {
  if (setting === undefined || typeof setting === 'number') return () => setting ?? 10;
  return (action) => setting[action] ?? setting['*'] ?? 10;
}

function balanceOf(caller: SimulatorCredential): Record<string, string> {
  const currency = caller.currency ?? 'CNY';
  if (!isCurrency(currency))
    throw new Error(`credential ${caller.accessKeyId}: unsupported currency ${String(currency)}`);
  const minor = parseMajorAmount(caller.balance ?? '1000000', currency);
  if (minor === undefined) throw new Error(`credential ${caller.accessKeyId}: bad balance "${caller.balance}"`);
  const amount = formatMinorAmount(minor, currency);
  const zero = formatMinorAmount(0n, currency);
  return {
    AvailableAmount: amount,
    AvailableCashAmount: amount,
    CreditAmount: zero,
    MybankCreditAmount: zero,
    Currency: currency,
    QuotaLimit: zero,
  };
}

/**
 * pop-core POSTs everything in a form body, a lowercase 'post' sends it all in the query, and other
 * SDKs split the two: the gateway signs over the union, so merge both. A null-prototype object keeps
 * a parameter named "__proto__" an ordinary parameter.
 */
function collectParams(url: URL, body: string, contentType: string | undefined): RpcParams {
  const params: RpcParams = Object.create(null) as RpcParams;
  for (const [name, value] of url.searchParams) params[name] = value;
  if (body && (contentType ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    for (const [name, value] of new URLSearchParams(body)) params[name] = value;
  }
  return params;
}

/** `yyyy-MM-ddTHH:mm:ssZ` (UTC, fraction tolerated). Undefined when malformed. */
function parseTimestamp(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error('request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function writeReply(res: ServerResponse, reply: Exclude<Reply, { kind: 'drop' }>, requestId: string): void {
  // The client may have given up while the call was delayed; there is nobody left to answer.
  if (res.destroyed || res.socket?.destroyed) return;
  if (reply.kind === 'html') {
    res.writeHead(reply.status, { 'content-type': 'text/html' });
    res.end(HTML_5XX);
    return;
  }
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-type': 'application/json;charset=utf-8',
    'x-acs-request-id': requestId,
    'x-acs-trace-id': randomBytes(16).toString('hex'),
    'access-control-allow-origin': '*',
  });
  res.end(JSON.stringify(reply.body));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' });
  res.end(JSON.stringify(body));
}
