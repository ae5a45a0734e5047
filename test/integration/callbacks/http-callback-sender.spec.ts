import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { LookupAddress } from 'node:dns';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { CallbackDelivery } from '../../../src/recharge/application/ports/callback-outbox';
import {
  HttpCallbackSender,
  HttpCallbackSenderOptions,
  MAX_CALLBACK_RESPONSE_BYTES,
} from '../../../src/recharge/infrastructure/callbacks/http-callback.sender';

/**
 * The callback sender's network safety (SSRF): every test server listens on loopback only.
 * Where a test needs a "public" address to deliver to, 127.0.0.1 plays it and 127.0.0.2 plays an
 * internal one, through the sender's injectable address check; the real check (which refuses
 * both) is exercised with the default options.
 */

interface Received {
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface TestServer {
  server: Server;
  port: number;
  received: Received[];
  url(path?: string): string;
  close(): Promise<void>;
}

async function listen(
  host: string,
  port: number,
  handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok'),
): Promise<TestServer> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    received,
    url: (path = '/hook') => `http://${host}:${actual}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let n = 0;
const delivery = (url: string): CallbackDelivery => ({
  id: `msg_${++n}`,
  rechargeId: `rch_${n}`,
  url,
  eventType: 'recharge.succeeded',
  payload: JSON.stringify({ type: 'recharge.succeeded', n }),
  webhookSecret: SECRET,
  clientRevoked: false,
  attempts: 0,
  createdAt: new Date(),
});

const sender = (o: Partial<HttpCallbackSenderOptions> = {}) =>
  new HttpCallbackSender({
    allowedHosts: ['127.0.0.1', '127.0.0.2', '::ffff:7f00:1', '*.callbacks.test'],
    allowPrivateNetworks: false,
    timeoutMs: 5000,
    ...o,
  });

/** A resolver whose answers are scripted per call (the last answer repeats), counting calls. */
function scriptedResolver(...answers: string[][]) {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<LookupAddress[]> => {
    calls.push(hostname);
    const answer = answers[Math.min(calls.length - 1, answers.length - 1)];
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, calls };
}

/** 127.0.0.1 stands in for a public address, 127.0.0.2 for an internal one. */
const testAddressCheck = (address: string) => (address === '127.0.0.2' ? 'internal (test)' : null);

describe('HttpCallbackSender: network safety', () => {
  let publicServer: TestServer;
  let internalServer: TestServer;

  beforeAll(async () => {
    publicServer = await listen('127.0.0.1', 0);
    // Same port on another loopback address: only the address decides which one a connection reaches.
    internalServer = await listen('127.0.0.2', publicServer.port);
  });
  afterAll(async () => {
    await publicServer.close();
    await internalServer.close();
  });
  beforeEach(() => {
    publicServer.received.length = 0;
    internalServer.received.length = 0;
  });

  it('delivers a signed POST when private networks are allowed (the loopback test setup)', async () => {
    const d = delivery(publicServer.url());
    const attempt = await sender({ allowPrivateNetworks: true }).send(d, new Date());
    expect(attempt).toMatchObject({ statusCode: 200, error: null });
    expect(publicServer.received).toHaveLength(1);
    const got = publicServer.received[0];
    expect(got.headers['webhook-id']).toBe(d.id);
    expect(() => new Webhook(SECRET).verify(got.body, got.headers as Record<string, string>)).not.toThrow();
  });

  it('refuses loopback when private networks are not allowed, without connecting', async () => {
    const attempt = await sender().send(delivery(publicServer.url()), new Date());
    expect(attempt.statusCode).toBeNull();
    expect(attempt.abandoned).toBeUndefined(); // a refusal is retried: DNS may be fixed, each retry is checked again
    expect(attempt.error).toMatch(/refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1 \(ipv4 loopback\)/);
    expect(publicServer.received).toHaveLength(0);
  });

  // Each spelling reaches the loopback server when allowed (so the refusal below is not vacuous).
  it.each([
    ['decimal', (p: number) => `http://2130706433:${p}/hook`],
    ['hex', (p: number) => `http://0x7f000001:${p}/hook`],
    ['dotted hex', (p: number) => `http://0x7f.0.0.1:${p}/hook`],
    ['octal', (p: number) => `http://0177.0.0.1:${p}/hook`],
    ['short form', (p: number) => `http://127.1:${p}/hook`],
    ['IPv4-mapped IPv6', (p: number) => `http://[::ffff:127.0.0.1]:${p}/hook`],
    ['IPv4-mapped IPv6 in hex', (p: number) => `http://[::ffff:7f00:1]:${p}/hook`],
  ])('the %s form of 127.0.0.1 is refused (and reaches the server only when allowed)', async (_form, urlOf) => {
    const url = urlOf(publicServer.port);
    const refused = await sender().send(delivery(url), new Date());
    expect(refused.statusCode).toBeNull();
    expect(refused.error).toMatch(/refused: .* \(ipv4 loopback\)/);
    expect(publicServer.received).toHaveLength(0);

    const allowed = await sender({ allowPrivateNetworks: true }).send(delivery(url), new Date());
    expect(allowed).toMatchObject({ statusCode: 200, error: null });
    expect(publicServer.received).toHaveLength(1);
  });

  it('refuses a name that resolves to loopback, resolving it once', async () => {
    const dns = scriptedResolver(['127.0.0.1']);
    const attempt = await sender({ resolve: dns.resolve }).send(
      delivery(`http://internal.callbacks.test:${publicServer.port}/hook`),
      new Date(),
    );
    expect(attempt.error).toMatch(/refused: internal\.callbacks\.test resolves to 127\.0\.0\.1/);
    expect(dns.calls).toEqual(['internal.callbacks.test']);
    expect(publicServer.received).toHaveLength(0);
  });

  it.each([
    ['169.254.169.254', 'linkLocal'],
    ['10.0.0.7', 'private'],
    ['100.64.1.1', 'carrierGradeNat'],
    ['fd00::1', 'uniqueLocal'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
  ])('refuses a name resolving to %s (%s)', async (address, range) => {
    const dns = scriptedResolver([address]);
    const attempt = await sender({ resolve: dns.resolve }).send(delivery('http://x.callbacks.test/hook'), new Date());
    expect(attempt.statusCode).toBeNull();
    expect(attempt.error).toContain(range);
  });

  it('refuses when any of the answers is special, even if another one is public', async () => {
    const dns = scriptedResolver(['93.184.215.14', '127.0.0.1']);
    const attempt = await sender({ resolve: dns.resolve }).send(
      delivery('http://mixed.callbacks.test/hook'),
      new Date(),
    );
    expect(attempt.error).toMatch(/resolves to 127\.0\.0\.1/);
  });

  it('DNS rebinding: the connection goes to the address that was checked, never to a second answer', async () => {
    // First answer "public", every later answer "internal": a second lookup at connect time would reach the internal server.
    const dns = scriptedResolver(['127.0.0.1'], ['127.0.0.2']);
    const s = sender({ resolve: dns.resolve, refuseAddress: testAddressCheck });
    const url = `http://rebind.callbacks.test:${publicServer.port}/hook`;

    const first = await s.send(delivery(url), new Date());
    expect(first).toMatchObject({ statusCode: 200, error: null });
    expect(dns.calls).toHaveLength(1); // one resolution for the check and the connection together
    expect(publicServer.received).toHaveLength(1);
    expect(publicServer.received[0].headers.host).toBe(`rebind.callbacks.test:${publicServer.port}`);
    expect(internalServer.received).toHaveLength(0);

    // The next attempt resolves again, sees the internal answer and refuses before connecting.
    const second = await s.send(delivery(url), new Date());
    expect(second.statusCode).toBeNull();
    expect(second.error).toMatch(/refused: rebind\.callbacks\.test resolves to 127\.0\.0\.2 \(internal \(test\)\)/);
    expect(dns.calls).toHaveLength(2);
    expect(internalServer.received).toHaveLength(0);
  });

  it('DNS rebinding the other way round: an internal first answer is refused, nothing connects', async () => {
    const dns = scriptedResolver(['127.0.0.2'], ['127.0.0.1']);
    const attempt = await sender({ resolve: dns.resolve, refuseAddress: testAddressCheck }).send(
      delivery(`http://rebind2.callbacks.test:${publicServer.port}/hook`),
      new Date(),
    );
    expect(attempt.error).toMatch(/resolves to 127\.0\.0\.2/);
    expect(dns.calls).toHaveLength(1);
    expect(publicServer.received).toHaveLength(0);
    expect(internalServer.received).toHaveLength(0);
  });

  it('the socket never resolves on its own: a name the system resolver does not know is delivered through the checked answer', async () => {
    const dns = scriptedResolver(['127.0.0.1']);
    const attempt = await sender({ resolve: dns.resolve, refuseAddress: testAddressCheck }).send(
      delivery(`http://no-such-name.callbacks.test:${publicServer.port}/hook`),
      new Date(),
    );
    expect(attempt).toMatchObject({ statusCode: 200, error: null });
    expect(publicServer.received).toHaveLength(1);
  });

  it('a DNS failure is a failed attempt (retried), not a crash', async () => {
    const attempt = await sender({
      resolve: async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND gone.callbacks.test'), { code: 'ENOTFOUND' });
      },
    }).send(delivery('http://gone.callbacks.test/hook'), new Date());
    expect(attempt).toMatchObject({ statusCode: null, error: expect.stringMatching(/cannot resolve .*ENOTFOUND/) });
    expect(attempt.abandoned).toBeUndefined();
  });

  it('a host no longer in CALLBACK_ALLOWED_HOSTS is abandoned with the reason, without resolving or connecting', async () => {
    const dns = scriptedResolver(['127.0.0.1']);
    const attempt = await sender({ allowedHosts: ['hooks.example.com'], resolve: dns.resolve }).send(
      delivery(`http://removed.callbacks.test:${publicServer.port}/hook`),
      new Date(),
    );
    expect(attempt).toMatchObject({
      statusCode: null,
      abandoned: true,
      error: 'abandoned: removed.callbacks.test is no longer in CALLBACK_ALLOWED_HOSTS',
    });
    expect(dns.calls).toHaveLength(0);
    expect(publicServer.received).toHaveLength(0);
  });

  it('a stored URL with user info is abandoned and its credentials appear nowhere in the attempt', async () => {
    const attempt = await sender({ allowPrivateNetworks: true }).send(
      delivery(`http://alice:hunter2-secret@127.0.0.1:${publicServer.port}/hook`),
      new Date(),
    );
    expect(attempt).toMatchObject({ statusCode: null, abandoned: true });
    expect(JSON.stringify(attempt)).not.toMatch(/hunter2|alice/);
    expect(publicServer.received).toHaveLength(0);
  });
});

describe('HttpCallbackSender: https to a pinned address', () => {
  it('TLS names the host (SNI) and verifies the certificate against it, though the socket goes to the checked address', async () => {
    if (spawnSync('openssl', ['version']).status !== 0) {
      console.log('openssl not on PATH: skipping the TLS check of the pinned connection');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'callback-tls-'));
    try {
      const made = spawnSync('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=tls.callbacks.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]);
      expect(made.status).toBe(0);
      const key = readFileSync(join(dir, 'key.pem'));
      const cert = readFileSync(join(dir, 'cert.pem'));
      const serverNames: string[] = [];
      let requests = 0;
      const server = createHttpsServer(
        {
          key,
          cert,
          SNICallback: (name, done) => {
            serverNames.push(name);
            done(null, createSecureContext({ key, cert }));
          },
        },
        (_req, res) => {
          requests += 1;
          res.end('ok');
        },
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      try {
        const dns = scriptedResolver(['127.0.0.1']);
        const attempt = await sender({ resolve: dns.resolve, refuseAddress: testAddressCheck }).send(
          delivery(`https://tls.callbacks.test:${port}/hook`),
          new Date(),
        );
        // Self-signed, so not trusted: the handshake reached the pinned address and was verified, not skipped.
        expect(attempt.statusCode).toBeNull();
        expect(attempt.error).toMatch(/self[- ]signed certificate|DEPTH_ZERO_SELF_SIGNED_CERT/i);
        expect(serverNames).toEqual(['tls.callbacks.test']);
        expect(requests).toBe(0);
        expect(dns.calls).toHaveLength(1);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HttpCallbackSender: answers', () => {
  const servers: TestServer[] = [];
  const start = async (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
    const s = await listen('127.0.0.1', 0, handler);
    servers.push(s);
    return s;
  };
  const allowed = (o: Partial<HttpCallbackSenderOptions> = {}) => sender({ allowPrivateNetworks: true, ...o });
  afterAll(() => Promise.all(servers.map((s) => s.close())));

  it.each([301, 302, 303, 307, 308])(
    'a %i redirect is not followed: not delivered, the target never hears of it',
    async (status) => {
      const target = await start((_req, res) => res.end('ok'));
      const redirecting = await start((_req, res) => {
        res.writeHead(status, { location: target.url('/stolen') });
        res.end();
      });
      const attempt = await allowed().send(delivery(redirecting.url()), new Date());
      expect(attempt).toMatchObject({ statusCode: status, error: `HTTP ${status} (redirects are not followed)` });
      expect(redirecting.received).toHaveLength(1);
      expect(target.received).toHaveLength(0);
    },
  );

  it('an endless response body is cut after 64 KB: the attempt ends, the status counts', async () => {
    let written = 0;
    let closed = false;
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const endless = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const pump = () => {
        while (!closed && res.write(chunk)) written += chunk.length;
        if (!closed) written += chunk.length;
      };
      res.on('drain', pump);
      res.on('close', () => (closed = true));
      pump();
    });
    const attempt = await allowed().send(delivery(endless.url()), new Date());
    expect(attempt).toMatchObject({ statusCode: 200, error: null });
    await new Promise<void>((resolve) => {
      const check = () => (closed ? resolve() : setTimeout(check, 10));
      check();
    });
    // The server saw its connection closed after writing a bounded amount (socket buffers, not the stream).
    expect(closed).toBe(true);
    expect(written).toBeGreaterThan(MAX_CALLBACK_RESPONSE_BYTES);
  });

  it('a 500 with a 20 MB body is a failed attempt whose error does not carry the body', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 'y');
    const server = await start((_req, res) => {
      res.writeHead(500, { 'content-length': big.length });
      res.end(big);
    });
    const attempt = await allowed().send(delivery(server.url()), new Date());
    expect(attempt).toMatchObject({ statusCode: 500, error: 'HTTP 500' });
  });

  it('a receiver that never answers is timed out (the timeout is kept)', async () => {
    const silent = await start(() => undefined);
    const attempt = await allowed({ timeoutMs: 300 }).send(delivery(silent.url()), new Date());
    expect(attempt.statusCode).toBeNull();
    expect(attempt.error).toMatch(/timeout|aborted/i);
  });

  it('a receiver that trickles its body forever is timed out too', async () => {
    const trickle = await start((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(timer));
    });
    const attempt = await allowed({ timeoutMs: 400 }).send(delivery(trickle.url()), new Date());
    expect(attempt.statusCode).toBeNull();
    expect(attempt.error).toMatch(/timeout|aborted/i);
  });
});
