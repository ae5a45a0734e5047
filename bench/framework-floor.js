'use strict';
/**
 * What the web stack costs before the service does any work: CPU per POST of servers that parse a
 * recharge body and answer 202 with a small JSON, no database, no auth, no logging — node:http,
 * Fastify, Nest on Fastify, and Nest on Fastify with a ValidationPipe over a five-field DTO (async
 * as Nest ships it, and checking synchronously as the service does). Each server runs in a child
 * process driven by wrk -t1 -c32 (3 s warm-up, then 10 s measured), its CPU read from /proc.
 *
 *   node bench/framework-floor.js              # all five, in turn
 *   node bench/framework-floor.js nest nest-pipe-sync
 */
const { execFile, fork } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');

const KINDS = ['node-http', 'fastify', 'nest', 'nest-pipe-async', 'nest-pipe-sync'];
const WRK_SCRIPT = path.join(__dirname, 'lib', 'wrk-post.lua');

const answer = (b) => ({ id: 'rch_0190b3a1c2d37f0e8a9b0c1d2e3f4a5b', state: 'CREATED', accountId: b.accountId });

async function serve(kind, port) {
  if (kind === 'node-http') {
    const http = require('node:http');
    const server = http.createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const text = JSON.stringify(answer(JSON.parse(raw)));
        res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    });
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
    return;
  }
  if (kind === 'fastify') {
    const app = require('fastify')();
    app.post('/v1/recharges', async (req, reply) => reply.code(202).send(answer(req.body)));
    await app.listen({ port, host: '127.0.0.1' });
    return;
  }
  require('reflect-metadata');
  const { NestFactory } = require('@nestjs/core');
  const { Body, Controller, HttpCode, Module, Post, ValidationPipe } = require('@nestjs/common');
  const { FastifyAdapter } = require('@nestjs/platform-fastify');
  const cv = require('class-validator');
  class Dto {}
  cv.IsString()(Dto.prototype, 'accountId');
  cv.IsInt()(Dto.prototype, 'amount');
  cv.IsString()(Dto.prototype, 'currency');
  for (const optional of ['orderReference', 'metadata']) cv.IsOptional()(Dto.prototype, optional);
  cv.IsString()(Dto.prototype, 'orderReference');
  cv.IsObject()(Dto.prototype, 'metadata');
  class Recharges {
    create(body) {
      return answer(body);
    }
  }
  Reflect.defineMetadata('design:paramtypes', [Dto], Recharges.prototype, 'create');
  const method = Object.getOwnPropertyDescriptor(Recharges.prototype, 'create');
  Body()(Recharges.prototype, 'create', 0);
  HttpCode(202)(Recharges.prototype, 'create', method);
  Post()(Recharges.prototype, 'create', method);
  Controller('v1/recharges')(Recharges);
  class App {}
  Module({ controllers: [Recharges] })(App);
  const app = await NestFactory.create(App, new FastifyAdapter(), { logger: false });
  const options = { whitelist: true, forbidNonWhitelisted: true, transform: true };
  class SyncPipe extends ValidationPipe {
    validate(object, validatorOptions) {
      return cv.validateSync(object, validatorOptions);
    }
  }
  if (kind === 'nest-pipe-async') app.useGlobalPipes(new ValidationPipe(options));
  if (kind === 'nest-pipe-sync') app.useGlobalPipes(new SyncPipe(options));
  await app.listen(port, '127.0.0.1');
}

const cpuMsOf = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 100 ticks a second
};

const wrk = (url, seconds) =>
  new Promise((resolve, reject) =>
    execFile('wrk', ['-t1', '-c32', `-d${seconds}s`, '-s', WRK_SCRIPT, url, '--', 'floor', 'floor'], (err, out) =>
      err ? reject(err) : resolve(JSON.parse(out.split('WRK_JSON ')[1].split('\n')[0])),
    ),
  );

async function measure(kind, port) {
  const child = fork(path.join(__dirname, 'framework-floor.js'), ['--serve', kind, String(port)]);
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}/v1/recharges`;
  await wrk(url, 3);
  const before = cpuMsOf(child.pid);
  const run = await wrk(url, 10);
  const cpuMs = cpuMsOf(child.pid) - before;
  child.kill('SIGKILL');
  const ok = run.statusCodes['202'] ?? 0;
  return {
    kind,
    requestsPerSecond: Math.round(ok / (run.durationUs / 1e6)),
    cpuUsPerRequest: Math.round((cpuMs * 1000) / ok),
  };
}

async function main() {
  if (process.argv[2] === '--serve') {
    await serve(process.argv[3], Number(process.argv[4]));
    process.send('ready');
    return;
  }
  const kinds = process.argv.length > 2 ? process.argv.slice(2) : KINDS;
  const unknown = kinds.filter((k) => !KINDS.includes(k));
  if (unknown.length) throw new Error(`unknown server ${unknown.join(', ')}; one of ${KINDS.join(', ')}`);
  console.log(`framework floor on Node ${process.version}: wrk -t1 -c32, 10 s per server, CPU from /proc`);
  for (const [i, kind] of kinds.entries()) {
    const r = await measure(kind, 39100 + i);
    console.log(
      `${r.kind.padEnd(16)} ${String(r.requestsPerSecond).padStart(6)} req/s  ${r.cpuUsPerRequest} µs CPU/POST`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
