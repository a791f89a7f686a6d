/**
 * The address checks every guarded outbound request shares (audio_url downloads, the moderation
 * check): which addresses count as public, a DNS lookup that refuses a name when any of its
 * addresses is refused, and a check of the address each connection actually reached (Node skips
 * the lookup for IP literals, and a check done before connecting is only as good as the path
 * that led there). What a refusal is called is the caller's: it passes `refuse`.
 */

import type { LookupAddress, LookupAllOptions } from 'node:dns';
import type { ClientRequest } from 'node:http';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Where an address is checked: a literal in the URL, a DNS answer, or the peer of an open connection. */
export type AddressStage = 'url' | 'dns' | 'connect';

/** Whether `address` may be reached at `stage`. */
export type AddressCheck = (address: string, stage: AddressStage) => boolean;

/** Resolves a host name to all its addresses (`dns.promises.lookup` with `all: true`). */
export type Resolve = (hostname: string, options: LookupAllOptions) => Promise<LookupAddress[]>;

/** IPv6 global unicast: anything outside it (IPv4-compatible `::a.b.c.d`, unassigned blocks) is not a public server. */
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

/**
 * True only for public unicast addresses. IPv4-mapped IPv6 is judged as the IPv4 it carries;
 * every range ipaddr.js names (loopback, private, linkLocal with the 169.254.169.254 metadata
 * address, uniqueLocal, carrierGradeNat, reserved and benchmarking, multicast, broadcast,
 * unspecified, teredo, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, ...) is refused. 6to4
 * (`2002::/16`) is refused whole rather than judged by the IPv4 it embeds: a relay decides where
 * it goes, and public servers that are reachable only through 6to4 are gone.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const ip = ipaddr.process(address);
  if (ip.range() !== 'unicast') return false;
  return ip.kind() === 'ipv4' || ip.match(IPV6_GLOBAL_UNICAST);
}

/** `localhost` and its subdomains (RFC 6761), with or without the final dot. */
export function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/u, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/** A lookup that refuses a name when any of its addresses is refused (so a later retry on another address cannot reach inside). */
export function guardedLookup(resolve: Resolve, allowed: AddressCheck, refuse: (address: string) => Error): LookupFunction {
  return (hostname, options, callback) => {
    const answer = (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]): void => {
      if (error !== null) {
        callback(error, '', 0);
        return;
      }
      if (options.all) {
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        return;
      }
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    };
    resolve(hostname, { family: options.family, hints: options.hints, all: true }).then(
      (addresses) => {
        const refused = addresses.find((a) => !allowed(a.address, 'dns'));
        if (refused !== undefined) return process.nextTick(answer, refuse(refused.address) as NodeJS.ErrnoException, []);
        if (addresses.length === 0) return process.nextTick(answer, Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
        process.nextTick(answer, null, addresses);
      },
      (error: NodeJS.ErrnoException) => process.nextTick(answer, error, []),
    );
  };
}

/**
 * Destroys `req` with `refuse(peer)` when the address its socket connected to is refused; the
 * check runs before a byte of the request is written. Needs a socket of its own per request
 * (`agent: false`), so that every connection passes through here.
 */
export function checkPeerOnConnect(req: ClientRequest, allowed: AddressCheck, refuse: (address: string) => Error): void {
  req.on('socket', (socket) => {
    const checkPeer = (): void => {
      const peer = socket.remoteAddress;
      if (peer === undefined || !allowed(peer, 'connect')) req.destroy(refuse(peer ?? 'unknown'));
    };
    // Prepended so the check runs before the request is written to the socket.
    if (socket.connecting) socket.prependOnceListener('connect', checkPeer);
    else checkPeer();
  });
}
