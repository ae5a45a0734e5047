/**
 * Removes credentials from free text before it reaches a log line, an error body or a stored
 * error column: pop-core appends the whole signed request URL to its error messages (AccessKeyId,
 * Signature, nonce and every parameter), URLs may carry `user:password@`, and API keys or webhook
 * secrets must never be echoed either.
 */
export function redactSecrets(text: string): string {
  // Most strings (every log line's message and fields) hold none of what the patterns below look
  // for: one scan for their common markers spares the nine replacements. Each pattern needs one of
  // these substrings to match, so a string without any is returned as it is.
  if (!MAY_HOLD_SECRET.test(text)) return text;
  return applySecretPatterns(text);
}

/** What redactSecrets replaces, in order: each pattern with its replacement. */
const SECRET_PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  [/, URL: \S+/g, ', URL: [redacted]'],
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"]*@/gi, '$1[redacted]@'],
  [/(https?:\/\/[^\s?#'"]*)[?#][^\s'"]*/g, '$1?[redacted]'],
  [/string to sign is:[\s\S]*/i, 'string to sign is: [redacted]'],
  [
    /(AccessKeyId|AccessKeySecret|Signature|SecurityToken|SignatureNonce|password|secret)(=|%3D|":\s*"|:\s*)[^&\s",]*/gi,
    '$1$2[redacted]',
  ],
  [/\brk_[A-Za-z0-9_-]{16,}/g, 'rk_[redacted]'],
  [/\bwhsec_[A-Za-z0-9+/=]{8,}/g, 'whsec_[redacted]'],
  [/\bv1,[A-Za-z0-9+/=]{20,}/g, 'v1,[redacted]'],
  [/(Bearer\s+)\S+/gi, '$1[redacted]'],
];

/** Every pattern applied, without the marker shortcut (exported for the spec that checks the shortcut). */
export function applySecretPatterns(text: string): string {
  return SECRET_PATTERNS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}

/** A substring every pattern of redactSecrets needs (case-insensitive, so a superset of each). */
const MAY_HOLD_SECRET =
  /URL: |:\/\/|string to sign is:|AccessKey|Signature|SecurityToken|password|secret|rk_|whsec_|v1,|Bearer/i;

export const redactNullable = (text: string | null): string | null => (text === null ? null : redactSecrets(text));

/** Field names whose values are credentials, wherever they appear in a logged or stored object. */
export const SECRET_FIELD =
  /secret|passw(or)?d|passphrase|token|api[-_]?key|authorization|cookie|signature|credential|private[-_]?key|access[-_]?key/i;

const MAX_DEPTH = 12;

/**
 * A copy of `value` with every secret-named field blanked at any depth and every string scrubbed
 * by redactSecrets. Errors stay errors (same prototype) so serializers still recognise them;
 * cycles and very deep structures are cut rather than followed.
 */
export function redactDeep<T>(value: T): T {
  return walk(value, 0, new WeakSet()) as T;
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (value instanceof Date || Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
    const out: Record<string, unknown> =
      value instanceof Error ? Object.create(Object.getPrototypeOf(value)) : Object.create(null);
    if (value instanceof Error) {
      for (const key of ['name', 'message', 'stack'] as const) {
        if (typeof value[key] === 'string') {
          Object.defineProperty(out, key, {
            value: redactSecrets(value[key] as string),
            enumerable: false,
            writable: true,
            configurable: true,
          });
        }
      }
      if ('cause' in value) out.cause = walk(value.cause, depth + 1, seen);
    }
    for (const [key, v] of Object.entries(value)) {
      out[key] = SECRET_FIELD.test(key) && v !== null && v !== undefined ? '[redacted]' : walk(v, depth + 1, seen);
    }
    return value instanceof Error ? out : { ...out };
  } finally {
    seen.delete(value);
  }
}
