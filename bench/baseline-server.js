'use strict';
/**
 * The bench's yardstick: the best a hand-written POST /v1/recharges can do and still be durable.
 * Plain node:http + pg, no framework, no auth, no validation beyond JSON.parse: it commits the same
 * rows a POST commits (a recharge row and its CREATED event) in ONE round trip — a single named
 * prepared statement, `WITH ins AS (INSERT INTO recharges … RETURNING id) INSERT INTO
 * recharge_events … SELECT … FROM ins`, in autocommit (one statement is one transaction; no
 * BEGIN/COMMIT) — on a pool of the service's size (20), and answers a minimal 202. That is the
 * shape of the service's own insert (`CREATE_IF_ABSENT`), so the difference between the two is
 * what the service does around it. The service's ingest rate is reported as a fraction of this
 * server's, measured in the same run, so the comparison holds on a noisy machine.
 *
 * Env: DATABASE_URL, PORT, BASELINE_CLIENT_ID (an existing clients.id: recharges reference it).
 */
const { createHash } = require('node:crypto');
const http = require('node:http');
const { Pool } = require('pg');
const { uuidv7 } = require('uuidv7');

// Idle connections stay open (pg's default closes them after 10 s), like the service's pool, whose
// warm connections never close: see docs/performance.md, footnote ³.
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 20, idleTimeoutMillis: 0 });
const clientId = process.env.BASELINE_CLIENT_ID;
const BODY_LIMIT = 64 * 1024;

/** Parsed and planned once per connection (named), then only bound and executed. */
const CREATE = {
  name: 'baseline_create_v1',
  text: `WITH ins AS (
      INSERT INTO recharges (id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency,
        order_reference, metadata, callback_url, state, attempts, next_attempt_at, created_at, updated_at, version)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, 'CREATED', 0, $11, $11, $11, 1)
      RETURNING id
    )
    INSERT INTO recharge_events (recharge_id, from_state, to_state, reason, source, correction, at)
    SELECT id, NULL, 'CREATED', 'requested', 'api', false, $11 FROM ins`,
};

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function create(req, res, raw) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    return send(res, 400, { code: 'INVALID_ARGUMENT' });
  }
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || !body || typeof body.accountId !== 'string')
    return send(res, 400, { code: 'INVALID_ARGUMENT' });
  const id = `rch_${uuidv7().replace(/-/g, '')}`;
  const now = new Date();
  const metadata = body.metadata ?? {};
  const fingerprint = createHash('sha256')
    .update(
      JSON.stringify([
        body.accountId,
        String(body.amount),
        body.currency,
        body.orderReference ?? null,
        metadata,
        body.callbackUrl ?? null,
      ]),
    )
    .digest('hex');
  try {
    await pool.query({
      ...CREATE,
      values: [
        id,
        clientId,
        key,
        fingerprint,
        body.accountId,
        body.amount,
        body.currency,
        body.orderReference ?? null,
        JSON.stringify(metadata),
        body.callbackUrl ?? null,
        now,
      ],
    });
  } catch (err) {
    return send(res, err.code === '23505' ? 409 : 500, { code: 'ERROR', detail: String(err.message) });
  }
  send(res, 202, { id, status: 'accepted' }, { location: `/v1/recharges/${id}` });
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/recharges') return send(res, 404, { code: 'NOT_FOUND' });
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= BODY_LIMIT) chunks.push(c);
  });
  req.on('end', () => {
    if (size > BODY_LIMIT) return send(res, 413, { code: 'INVALID_ARGUMENT' });
    create(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) =>
      send(res, 500, { code: 'ERROR', detail: String(err) }),
    );
  });
});

server.keepAliveTimeout = 30_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`baseline listening on ${process.env.PORT}`));

const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
