import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

/**
 * No script or style from anywhere but this service, no inline script, no framing: the token in
 * sessionStorage is only as safe as the page that can read it.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
}

/** The console's files live in `console/` at the package root (next to package.json, also in the image). */
function consoleDirectory(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'console');
    if (existsSync(join(candidate, 'index.html')) && existsSync(join(dir, 'package.json'))) return candidate;
  }
  throw new Error('console assets not found: the console/ folder must sit next to package.json');
}

function loadAssets(): { index: Buffer; assets: Map<string, Asset> } {
  const dir = consoleDirectory();
  const file = (name: string) => readFileSync(join(dir, name));
  const uplot = (name: string) => readFileSync(resolve(dirname(require.resolve('uplot/package.json')), 'dist', name));
  return {
    index: file('index.html'),
    assets: new Map<string, Asset>([
      ['console.js', { body: file('console.js'), type: 'text/javascript; charset=utf-8' }],
      ['console.css', { body: file('console.css'), type: 'text/css; charset=utf-8' }],
      ['uPlot.iife.min.js', { body: uplot('uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' }],
      ['uPlot.min.css', { body: uplot('uPlot.min.css'), type: 'text/css; charset=utf-8' }],
    ]),
  };
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'no-referrer')
    .header('X-Frame-Options', 'DENY');
}

/**
 * GET /console: the operators' web page, served by the service itself from files in the
 * repository (no CDN, works offline). Every page path answers the same document; the script reads
 * the path and the query (filters live in the URL, so a link can be shared).
 */
@ApiExcludeController()
@Controller('console')
export class ConsoleController {
  private readonly files = loadAssets();

  @Get(['', 'recharges', 'recharges/:id', 'accounts/:accountId', 'discrepancies', 'rules'])
  @Header('Cache-Control', 'no-store')
  page(@Res() reply: FastifyReply): void {
    secure(reply).type('text/html; charset=utf-8').send(this.files.index);
  }

  @Get('assets/:name')
  @Header('Cache-Control', 'no-cache')
  asset(@Param('name') name: string, @Res() reply: FastifyReply): void {
    const asset = this.files.assets.get(name);
    if (!asset) throw new NotFoundException();
    secure(reply).type(asset.type).send(asset.body);
  }
}
