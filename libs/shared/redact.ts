/**
 * Removes credentials from free text before it reaches a log line or an error body: pop-core
 * appends the whole signed request URL to its error messages (AccessKeyId, Signature, nonce and
 * every parameter), and API keys or webhook secrets must never be echoed either.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/, URL: \S+/g, ', URL: [redacted]')
    .replace(/(https?:\/\/[^\s?#'"]*)[?#][^\s'"]*/g, '$1?[redacted]')
    .replace(/string to sign is:[\s\S]*/i, 'string to sign is: [redacted]')
    .replace(
      /(AccessKeyId|AccessKeySecret|Signature|SecurityToken|SignatureNonce)(=|%3D|":\s*"|:\s*)[^&\s",]*/gi,
      '$1$2[redacted]',
    )
    .replace(/\brk_[A-Za-z0-9_-]{16,}/g, 'rk_[redacted]')
    .replace(/\bwhsec_[A-Za-z0-9+/=]{8,}/g, 'whsec_[redacted]')
    .replace(/\bv1,[A-Za-z0-9+/=]{20,}/g, 'v1,[redacted]')
    .replace(/(Bearer\s+)\S+/gi, '$1[redacted]');
}
