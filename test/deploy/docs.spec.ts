import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { repoRoot } from './kustomize-lite';

/** The repository documents itself: its links resolve, it points nowhere outside, config is documented. */

const read = (file: string) => readFileSync(join(repoRoot, file), 'utf8');
const trackedFiles = () =>
  execFileSync('git', ['ls-files'], { cwd: repoRoot, encoding: 'utf8' }).split('\n').filter(Boolean);
const markdownFiles = () => [
  'README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');

describe('the documentation', () => {
  it('has the pages the README links to, and every relative link and anchor resolves', () => {
    const files = markdownFiles();
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/api.md', 'docs/configuration.md']));
    const broken: string[] = [];
    for (const file of files) {
      for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [path, hash] = target.split('#');
        const resolved = path ? normalize(join(dirname(file), path)) : file;
        if (!existsSync(join(repoRoot, resolved))) {
          broken.push(`${file}: ${target}`);
          continue;
        }
        if (hash && resolved.endsWith('.md')) {
          const headings = [...read(resolved).matchAll(/^#+ (.+)$/gm)].map((m) => anchor(m[1]));
          if (!headings.includes(hash)) broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('never points outside the repository', () => {
    const outside = trackedFiles()
      .filter((f) => !f.startsWith('package-lock') && existsSync(join(repoRoot, f)))
      .filter((f) => /\.(md|ts|js|mjs|json|ya?ml)$/.test(f))
      .filter((f) => /\.\.\/shared\/|shared\/contract\.md/.test(read(f)));
    expect(outside).toEqual([]);
  });

  it('describes every environment variable the service reads', () => {
    const declared = [...read('config/app-config.ts').matchAll(/\b([A-Z][A-Z0-9_]{2,})\?:/g)].map((m) => m[1]);
    expect(declared).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'PROVIDER_MAX_RPS']));
    const doc = read('docs/configuration.md');
    expect(declared.filter((name) => !doc.includes(`\`${name}\``))).toEqual([]);
  });
});
