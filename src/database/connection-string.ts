/**
 * DATABASE_URL in any form libpq accepts, rewritten into the one form that every reader here
 * understands the same way: node-postgres (`connectionString`), MikroORM's `clientUrl` (read
 * with `new URL`, which rejects an empty host) and the test support that swaps the database name.
 *
 * Accepted:
 * - `postgres://user:pw@host:5432/db?sslmode=require` (unchanged);
 * - a unix socket with an empty host: `postgresql://user@/db?host=/var/run/postgresql`,
 *   `postgresql:///db?host=/cloudsql/project:region:instance`;
 * - a socket folder as a %2F-encoded host: `postgresql://user@%2Fvar%2Frun%2Fpostgresql/db`;
 * - keyword/value: `host=/var/run/postgresql dbname=recharge user=app password='it''s'`.
 *
 * A socket becomes `postgresql://user@localhost/db?host=%2Fvar%2Frun%2Fpostgresql`: node-postgres
 * takes the `host` parameter over the URL's host, and `new URL` parses it.
 */
export function normalizeDatabaseUrl(input: string): string {
  const text = input.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) return normalizeUrl(text);
  if (/^[a-z_]+\s*=/i.test(text)) return fromKeywordValue(text);
  throw new DatabaseUrlError('DATABASE_URL must be a postgres:// URL or libpq keyword/value pairs (host=… dbname=…)');
}

export class DatabaseUrlError extends Error {
  override readonly name = 'DatabaseUrlError';
}

const URL_FORM = /^(postgres(?:ql)?):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i;

function normalizeUrl(text: string): string {
  const match = URL_FORM.exec(text);
  if (!match) throw new DatabaseUrlError('DATABASE_URL is not a valid postgres:// URL');
  const [, , authority, path = '', query = ''] = match;
  const at = authority.lastIndexOf('@');
  const userInfo = at >= 0 ? authority.slice(0, at) : '';
  let hostPort = at >= 0 ? authority.slice(at + 1) : authority;
  const params = new URLSearchParams(query.slice(1));
  if (/^%2f/i.test(hostPort)) {
    // libpq: a host that starts with a slash (here percent-encoded) is a socket folder.
    const [dir, port] = splitPort(decodeURIComponent(hostPort));
    if (!params.has('host')) params.set('host', dir);
    if (port && !params.has('port')) params.set('port', port);
    hostPort = '';
  }
  if (hostPort.includes(',')) {
    throw new DatabaseUrlError('DATABASE_URL lists several hosts; give one (node-postgres connects to a single host)');
  }
  if (hostPort === '' || hostPort.startsWith(':')) {
    if (!params.has('host')) {
      throw new DatabaseUrlError(
        'DATABASE_URL names no host: add one, or ?host=/var/run/postgresql (the folder holding the server socket)',
      );
    }
    const port = hostPort.slice(1);
    hostPort = port ? `localhost:${port}` : 'localhost';
  }
  const rebuilt = `postgresql://${userInfo ? `${userInfo}@` : ''}${hostPort}${path || '/'}${serialize(params)}`;
  try {
    new URL(rebuilt);
  } catch {
    throw new DatabaseUrlError('DATABASE_URL is not a valid postgres:// URL');
  }
  return rebuilt;
}

/** `host=… port=… dbname=… user=… password=…`; values may be single-quoted with \' and \\ escapes. */
function fromKeywordValue(text: string): string {
  const pairs = new Map<string, string>();
  const token = /\s*([a-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']\S*)?)(?=\s|$)/giy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = token.exec(text)) !== null) {
    pairs.set(match[1].toLowerCase(), match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? ''));
    consumed = token.lastIndex;
  }
  if (text.slice(consumed).trim() !== '') {
    throw new DatabaseUrlError(
      'DATABASE_URL keyword/value pairs could not be read (use key=value, quote values with spaces)',
    );
  }
  const user = pairs.get('user');
  const password = pairs.get('password');
  const host = pairs.get('host') ?? pairs.get('hostaddr');
  const port = pairs.get('port');
  const database = pairs.get('dbname') ?? user ?? '';
  for (const key of ['user', 'password', 'host', 'hostaddr', 'port', 'dbname']) pairs.delete(key);
  const params = new URLSearchParams([...pairs]);
  let hostPort: string;
  if (!host) {
    throw new DatabaseUrlError(
      'DATABASE_URL names no host: add host=<name> or host=/var/run/postgresql (the socket folder)',
    );
  } else if (host.startsWith('/')) {
    params.set('host', host);
    hostPort = 'localhost';
  } else {
    hostPort = host.includes(':') ? `[${host}]` : host;
  }
  if (port) hostPort += `:${port}`;
  const auth = user ? `${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@` : '';
  return normalizeUrl(`postgresql://${auth}${hostPort}/${encodeURIComponent(database)}${serialize(params)}`);
}

function splitPort(hostAndPort: string): [string, string | undefined] {
  const match = /^(.*?)(?::(\d+))?$/.exec(hostAndPort)!;
  return [match[1], match[2]];
}

/** Keeps `/` readable in socket paths (`?host=/var/run/postgresql`); node-postgres decodes either way. */
function serialize(params: URLSearchParams): string {
  const text = params.toString().replace(/%2F/gi, '/');
  return text ? `?${text}` : '';
}
