import { redactSecrets } from './redact';

describe('redactSecrets', () => {
  it('removes the signed URL pop-core appends to its errors', () => {
    const message =
      'Specified signature is not matched with our calculation., URL: https://business.aliyuncs.com/?AccessKeyId=LTAI5tXYZ&Action=ChangeResellerConsumeAmount&Signature=abc%2Bdef%3D&SignatureNonce=123';
    const out = redactSecrets(message);
    expect(out).toBe('Specified signature is not matched with our calculation., URL: [redacted]');
  });

  it.each([
    ['GET https://business.aliyuncs.com/?AccessKeyId=LTAI5tXYZ&Signature=zzz failed', 'LTAI5tXYZ'],
    ['key rk_ejKQnqe9o7zGaiW3UVyh9oRog7Y-pi42r4oKdpVKerU leaked', 'ejKQnqe9o7zGaiW3'],
    ['secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'MfKQ9r8GKYqrTwjUPD8'],
    ['webhook-signature v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=', 'g0hM9SsE'],
    ['Authorization: Bearer rk_abc', 'rk_abc'],
    ['{"AccessKeySecret":"s3cr3t-value"}', 's3cr3t-value'],
  ])('redacts %s', (input, secret) => {
    expect(redactSecrets(input)).not.toContain(secret);
  });

  it('leaves ordinary text alone', () => {
    expect(redactSecrets('recharge rch_0190 moved SUBMITTED → SUCCEEDED')).toBe(
      'recharge rch_0190 moved SUBMITTED → SUCCEEDED',
    );
  });
});
