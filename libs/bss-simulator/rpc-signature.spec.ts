import { canonicalizedQueryString, percentEncode, signRpcParams, stringToSign } from './rpc-signature';

describe('RPC signature V2', () => {
  it('reproduces the official vector (reference §2.4)', () => {
    const params = {
      AccessKeyId: 'testid',
      Action: 'DescribeRegions',
      Format: 'XML',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
      SignatureVersion: '1.0',
      Timestamp: '2016-02-23T12:46:24Z',
      Version: '2014-05-26',
    };
    expect(stringToSign('GET', params)).toBe(
      'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1' +
        '%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0' +
        '%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26',
    );
    expect(signRpcParams('GET', params, 'testsecret')).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
  });

  it('reproduces the BSS-shaped GET and POST vectors', () => {
    const params = {
      AccessKeyId: 'testid',
      Action: 'SetResellerUserQuota',
      Amount: '100.00',
      Currency: 'CNY',
      Format: 'JSON',
      OutBizId: 'biz-0001',
      OwnerId: '1234567890123456',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '0123456789abcdef0123456789abcdef',
      SignatureVersion: '1.0',
      Timestamp: '2024-01-01T00:00:00Z',
      Version: '2017-12-14',
    };
    expect(signRpcParams('GET', params, 'testsecret')).toBe('YvnURR6WFIKpaqMVpidIQ2Af3Ck=');
    expect(signRpcParams('POST', params, 'testsecret')).toBe('qdXsaHEYDycXwyCW/zPLJzON6v0=');
    // Signature itself never takes part, and the method is upper-cased.
    expect(signRpcParams('post', { ...params, Signature: 'anything' }, 'testsecret')).toBe(
      'qdXsaHEYDycXwyCW/zPLJzON6v0=',
    );
  });

  it('percent-encodes per RFC 3986 over UTF-8', () => {
    expect(percentEncode("a b*c~d'e(f)g!h+i/j")).toBe('a%20b%2Ac~d%27e%28f%29g%21h%2Bi%2Fj');
    expect(percentEncode('中文')).toBe('%E4%B8%AD%E6%96%87');
    expect(percentEncode('-_.~AZaz09')).toBe('-_.~AZaz09');
  });

  it('sorts names case-sensitively (uppercase first) and keeps empty values as "name="', () => {
    expect(canonicalizedQueryString({ b: '1', B: '2', a: '', Signature: 'x' })).toBe('B=2&a=&b=1');
  });
});
