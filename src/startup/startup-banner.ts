import { join, relative } from 'node:path';
import { DEMO_KEY_FILE } from './demo-client';

export interface BannerFacts {
  port: number;
  /** Set when the embedded database runs (the demo key exists only then). */
  demo: { apiKey: string; dataDir: string } | null;
  simulated: boolean;
}

/** What `npm start` shows a person once the service listens: where it is and one request to try. */
export function startupBanner({ port, demo, simulated }: BannerFacts): string {
  const url = `http://localhost:${port}`;
  const lines = ['', `  alicloud-recharge is ready at ${url}`];
  lines.push(
    simulated
      ? '  Provider: the built-in Alibaba Cloud simulator (no keys set, no real money moves)'
      : '  Provider: Alibaba Cloud (real accounts, real money)',
  );
  lines.push('');
  if (demo) {
    const shown = relative(process.cwd(), demo.dataDir) || '.';
    lines.push(`  Demo API key  ${demo.apiKey}`);
    lines.push(`                (all accounts; kept in ${join(shown, DEMO_KEY_FILE)}, shown on every start)`);
  }
  lines.push(`  Console       ${url}/console`);
  lines.push(`  API docs      ${url}/docs`);
  if (demo) {
    lines.push('', '  Try it:');
    lines.push(
      `  curl -s ${url}/v1/recharges -H 'Authorization: Bearer ${demo.apiKey}' -H 'Content-Type: application/json' -H 'Idempotency-Key: first-try' -H 'Prefer: wait=10' -d '{"accountId":"1234567890123456","amount":4999,"currency":"CNY"}'`,
    );
    const shown = relative(process.cwd(), demo.dataDir) || '.';
    lines.push('', `  Ctrl-C stops it. The data stays in ${shown} (delete that folder to start afresh).`);
  }
  return `${lines.join('\n')}\n\n`;
}
