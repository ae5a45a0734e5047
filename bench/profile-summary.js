'use strict';
/**
 * Where a service process spent its CPU: reads a V8 CPU profile (`BENCH_CPU_PROF=1 npm run bench`
 * writes them to bench/.data/profiles) and prints self and inclusive time per bucket (Fastify,
 * Nest, validation, auth, logging, the pg driver, MikroORM, GC, …), optionally per request.
 *
 *   node bench/profile-summary.js bench/.data/profiles/ingest.cpuprofile [requests]
 */
const { readFileSync } = require('node:fs');

const BUCKETS = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
  ['program (native, unattributed)', (f) => f.functionName === '(program)'],
  [
    'pino + sonic-boom',
    (f) =>
      /node_modules\/(pino|sonic-boom|fast-redact|pino-std-serializers|quick-format-unescaped|fast-safe-stringify|atomic-sleep|on-exit-leak-free)\//.test(
        f.url,
      ),
  ],
  ['log redaction (own: redactDeep/redactSecrets)', (f) => /libs\/shared\/redact\.js/.test(f.url)],
  ['log lines (own: logging.ts)', (f) => /src\/observability\/logging\.js/.test(f.url)],
  ['class-validator + validator', (f) => /node_modules\/(class-validator|validator|libphonenumber-js)\//.test(f.url)],
  ['class-transformer', (f) => /node_modules\/class-transformer\//.test(f.url)],
  ['Nest (core, common, platform-fastify)', (f) => /node_modules\/@nestjs\//.test(f.url)],
  [
    'Fastify (+ find-my-way, avvio, plugins)',
    (f) =>
      /node_modules\/(fastify|find-my-way|@fastify|avvio|fast-json-stringify|fast-querystring|light-my-request|secure-json-parse|toad-cache|process-warning|abstract-logging|fast-content-type-parse)\//.test(
        f.url,
      ),
  ],
  [
    'pg driver (pg, pg-protocol, pg-pool, pg-types)',
    (f) =>
      /node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-date|postgres-array|postgres-interval|postgres-bytea|pg-connection-string)\//.test(
        f.url,
      ),
  ],
  ['MikroORM + knex', (f) => /node_modules\/(@mikro-orm|knex)\//.test(f.url)],
  ['OpenTelemetry + prom-client', (f) => /node_modules\/(@opentelemetry|prom-client|tdigest|bintrees)\//.test(f.url)],
  ['uuid', (f) => /node_modules\/(uuid|uuidv7)\//.test(f.url)],
  ['lru-cache', (f) => /node_modules\/lru-cache\//.test(f.url)],
  ['rxjs', (f) => /node_modules\/rxjs\//.test(f.url)],
  ['other node_modules', (f) => /node_modules\//.test(f.url)],
  ['own code: api (controllers, guard, filter)', (f) => /dist\/src\/api\//.test(f.url)],
  ['own code: recharge', (f) => /dist\/src\/recharge\//.test(f.url)],
  ['own code: dispatcher', (f) => /dist\/src\/dispatcher\//.test(f.url)],
  ['own code: other', (f) => /dist\/(src|libs|config)\//.test(f.url)],
  ['native (socket writev, JSON, crypto, regexps…)', (f) => f.url === '' && !/^\(/.test(f.functionName)],
  ['node core (http, net, streams, timers, async hooks)', (f) => /^node:/.test(f.url)],
  ['other', () => true],
];

function bucketOf(frame) {
  return BUCKETS.find(([, test]) => test(frame))[0];
}

function main() {
  const [file, requestsArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: node bench/profile-summary.js <file.cpuprofile> [requests]');
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  const inclusive = new Map();
  const topSelf = new Map();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000; // ms
    const node = nodes.get(id);
    const b = bucketOf(node.callFrame);
    if (b === 'idle') {
      idle += dt;
      return;
    }
    total += dt;
    self.set(b, (self.get(b) ?? 0) + dt);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${node.callFrame.lineNumber + 1}`;
    topSelf.set(fn, (topSelf.get(fn) ?? 0) + dt);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cb = bucketOf(nodes.get(cur).callFrame);
      if (!seen.has(cb)) {
        seen.add(cb);
        inclusive.set(cb, (inclusive.get(cb) ?? 0) + dt);
      }
    }
  });
  const requests = Number(requestsArg) || null;
  const fmt = (ms) =>
    `${ms.toFixed(0).padStart(7)} ms ${((ms / total) * 100).toFixed(1).padStart(5)}%${requests ? ` ${((ms * 1000) / requests).toFixed(1).padStart(6)} µs/req` : ''}`;
  console.log(
    `${file}: busy ${total.toFixed(0)} ms, idle ${idle.toFixed(0)} ms${requests ? `, ${requests} requests` : ''}`,
  );
  console.log('\nself time by bucket');
  for (const [b, ms] of [...self].sort((x, y) => y[1] - x[1])) console.log(`  ${b.padEnd(52)} ${fmt(ms)}`);
  console.log('\ninclusive time by bucket (a sample counts once per bucket on its stack)');
  for (const [b, ms] of [...inclusive].sort((x, y) => y[1] - x[1])) console.log(`  ${b.padEnd(52)} ${fmt(ms)}`);
  console.log('\ntop 30 functions by self time');
  for (const [fn, ms] of [...topSelf].sort((x, y) => y[1] - x[1]).slice(0, 30)) console.log(`  ${fmt(ms)}  ${fn}`);
}

main();
