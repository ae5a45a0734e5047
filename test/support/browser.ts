import { execSync } from 'node:child_process';
import type { Browser } from 'playwright-core';

/**
 * Debian's chromium package, found on PATH (CI installs it in .ci/run). Playwright's own browser
 * downloads cannot work here, so playwright-core drives this binary through executablePath.
 */
export function chromiumPath(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const path = execSync(`command -v ${name}`, { encoding: 'utf8', shell: '/bin/sh' }).trim();
      if (path) return path;
    } catch {
      // not this one
    }
  }
  return null;
}

/** Headless, as root (no sandbox), with everything that would phone home switched off. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export const LOUD_SKIP = [
  '',
  '#################################################################################',
  '#  BROWSER TESTS SKIPPED: no chromium on PATH.                                  #',
  '#  Install it with: apt-get update && apt-get install -y chromium               #',
  '#  (.ci/run does this; the console is NOT tested in a real browser in this run) #',
  '#################################################################################',
  '',
].join('\n');
