import { signRpcParams, stringToSign, percentEncode } from './rpc-signature';
const official = {AccessKeyId:'testid', Action:'DescribeRegions', Format:'XML', SignatureMethod:'HMAC-SHA1', SignatureNonce:'3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf', SignatureVersion:'1.0', Timestamp:'2016-02-23T12:46:24Z', Version:'2014-05-26'};
console.log(stringToSign('GET', official)); console.log(signRpcParams('GET', official, 'testsecret'));
const bss = {AccessKeyId:'testid', Action:'SetResellerUserQuota', Amount:'100.00', Currency:'CNY', Format:'JSON', OutBizId:'biz-0001', OwnerId:'1234567890123456', SignatureMethod:'HMAC-SHA1', SignatureNonce:'0123456789abcdef0123456789abcdef', SignatureVersion:'1.0', Timestamp:'2024-01-01T00:00:00Z', Version:'2017-12-14'};
console.log(signRpcParams('GET', bss, 'testsecret'), signRpcParams('POST', bss, 'testsecret'));
console.log(percentEncode("a b*c~d'e(f)g!h+i/j"), percentEncode('中文'));
