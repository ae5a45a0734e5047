import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Alibaba Cloud RPC signature "V2" (SignatureMethod=HMAC-SHA1, SignatureVersion=1.0), as verified
 * by the POP gateway and produced by @alicloud/pop-core. Reference §2.
 */
export type RpcParams = Record<string, string>;

/**
 * RFC 3986 percent-encoding over UTF-8: only A–Z a–z 0–9 - _ . ~ stay literal, hex is uppercase,
 * space is %20 (never +). encodeURIComponent already does all of that except for !'()*.
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Every parameter except Signature, sorted by name (ASCII order, like pop-core), as name=value pairs. */
export function canonicalizedQueryString(params: RpcParams): string {
  return Object.keys(params)
    .filter((name) => name !== 'Signature')
    .sort()
    .map((name) => `${percentEncode(name)}=${percentEncode(params[name] ?? '')}`)
    .join('&');
}

/** The canonicalized string is encoded a second time, so "%3A" inside a Timestamp becomes "%253A". */
export function stringToSign(httpMethod: string, params: RpcParams): string {
  return `${httpMethod.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonicalizedQueryString(params))}`;
}

/** The HMAC key is the secret with "&" appended: the docs omit it but every SDK and the official vector need it. */
export function hmacSha1Signature(toSign: string, accessKeySecret: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(toSign, 'utf8').digest('base64');
}

export function signRpcParams(httpMethod: string, params: RpcParams, accessKeySecret: string): string {
  return hmacSha1Signature(stringToSign(httpMethod, params), accessKeySecret);
}

export function signaturesEqual(expected: string, received: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(received);
  return a.length === b.length && timingSafeEqual(a, b);
}
