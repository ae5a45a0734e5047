import ipaddr from 'ipaddr.js';

/**
 * Why a resolved address may not receive a callback, or null when it may. Only public unicast
 * addresses pass: loopback, RFC 1918, link-local (the 169.254.169.254 metadata endpoint included),
 * CGNAT, unique-local, multicast, broadcast, unspecified, documentation and reserved ranges are all
 * refused. IPv4 carried inside IPv6 (`::ffff:10.0.0.1`, NAT64 `64:ff9b::a00:1`) is judged by the
 * IPv4 address it carries; 6to4 and Teredo tunnels are refused outright since their far end is
 * decided by the embedded address. ipaddr.js does the parsing: hand-written IP parsing is how
 * `0x7f.1` or `::ffff:7f00:1` slip through.
 */
export function refusedAddressReason(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) ip = v6.toIPv4Address();
    else if (v6.range() === 'rfc6052') ip = ipaddr.fromByteArray(v6.toByteArray().slice(12));
  }
  const range = ip.range();
  return range === 'unicast' ? null : `${ip.kind()} ${range}`;
}
