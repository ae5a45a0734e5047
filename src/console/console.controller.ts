import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Controller, Get, Header, Logger, NotFoundException, Param, Res } from '@nestjs/common';
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

/**
 * The console's files: `console/` at the repository root (source runs and tests), or `dist/console`
 * where `npm run build` copies them (the compiled service and the container image).
 */
function consoleDirectory(): string | null {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'console');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  return null;
}

function loadAssets(): { index: Buffer; assets: Map<string, Asset> } | null {
  const dir = consoleDirectory();
  if (!dir) return null;
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
  private readonly logger = new Logger('Console');
  // A service built without its console files still serves its API: only /console answers 404.
  private readonly files = loadAssets();

  constructor() {
    if (!this.files) this.logger.error('console files not found (console/index.html): /console answers 404');
  }

  @Get(['', 'recharges', 'recharges/:id', 'accounts/:accountId', 'discrepancies', 'rules'])
  @Header('Cache-Control', 'no-store')
  page(@Res() reply: FastifyReply): void {
    if (!this.files) throw new NotFoundException();
    secure(reply).type('text/html; charset=utf-8').send(this.files.index);
  }

  @Get('assets/:name')
  @Header('Cache-Control', 'no-cache')
  asset(@Param('name') name: string, @Res() reply: FastifyReply): void {
    const asset = this.files?.assets.get(name);
    if (!asset) throw new NotFoundException();
    secure(reply).type(asset.type).send(asset.body);
  }
}
