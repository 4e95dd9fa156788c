import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where webhooks may go (SSRF). By default only public unicast addresses:
 * loopback, private (RFC 1918), carrier-grade NAT, link-local (cloud metadata
 * at 169.254.169.254), unique-local, unspecified, multicast, broadcast and
 * reserved ranges are refused, IPv4-mapped IPv6 judged as the IPv4 inside.
 * WEBHOOK_ALLOW_PRIVATE lets every address through.
 *
 * @example
 * refusal('10.0.0.1', false); // 'private address 10.0.0.1'
 * refusal('93.184.216.34', false); // null
 */
export function refusal(address: string, allowPrivate: boolean): string | null {
  if (allowPrivate) return null;
  if (!ipaddr.isValid(address)) return `not an IP address: ${address}`;
  const parsed = ipaddr.process(address);
  const range = parsed.range();
  return range === 'unicast' ? null : `${range} address ${parsed.toString()}`;
}

/** A refused destination: the attempt fails without any connection. */
export class AddressRefused extends Error {
  constructor(host: string, why: string) {
    super(`refused to connect to ${host}: ${why} (WEBHOOK_ALLOW_PRIVATE is off)`);
    this.name = 'AddressRefused';
  }
}

/** The host of a URL as Node connects to it ([::1] → ::1). */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * A `lookup` for http.request that resolves the name and refuses it when any
 * of its addresses is refused: the connection goes to an address that was
 * checked, so a name that resolves differently a moment later (DNS
 * rebinding) cannot slip a private address past the check.
 */
export function checkedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      for (const a of addresses) {
        const why = refusal(a.address, allowPrivate);
        if (why) return callback(new AddressRefused(hostname, why), '', 0);
      }
      if (addresses.length === 0) return callback(new Error(`${hostname} has no address`), '', 0);
      // Node's happy-eyeballs connect asks for every address; a plain connect for one.
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/** An IP literal never goes through lookup: it is checked here before the request. */
export function literalRefusal(url: URL, allowPrivate: boolean): AddressRefused | null {
  const host = hostOf(url);
  if (isIP(host) === 0) return null;
  const why = refusal(host, allowPrivate);
  return why ? new AddressRefused(host, why) : null;
}
