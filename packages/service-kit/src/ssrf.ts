/**
 * The guard against server-side request forgery, shared by everything that sends a request
 * to an address a user chose (http steps, webhook deliveries). A URL's host is resolved first;
 * every address it resolves to is checked against the ranges a service must never reach on a
 * user's behalf (loopback, private, link-local with the cloud metadata address, carrier-grade
 * NAT, unspecified, multicast, documentation and reserved ranges), unless an allowlist names
 * the host, the address or a range holding it. The request then connects to the address that
 * was checked, never to a second resolution of the name, so a DNS answer that changes in
 * between (rebinding) cannot redirect it.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { Agent, fetch as undiciFetch, type RequestInit, type Response } from 'undici';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => {
  const answers = await dnsLookup(host, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Thrown when a destination is off limits or cannot be resolved; never worth retrying as is. */
export class DestinationError extends Error {
  readonly code: 'DESTINATION_FORBIDDEN' | 'DESTINATION_UNRESOLVABLE';
  readonly host: string;
  readonly address: string | undefined;

  constructor(
    code: DestinationError['code'],
    message: string,
    details: { host: string; address?: string },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DestinationError';
    this.code = code;
    this.host = details.host;
    this.address = details.address;
  }
}

// One list per family: Node's BlockList matches IPv4 addresses against IPv6 rules such as
// ::/96 (IPv4-compatible), which would refuse every public IPv4 address.
const forbidden4 = new BlockList();
const forbidden6 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  forbidden4.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
  ['100::', 64],
  // Addresses that embed an IPv4 address a gateway may translate to: IPv4-compatible and
  // -mapped forms not caught below, IPv4-translated (SIIT), local-use NAT64 and 6to4.
  ['::', 96],
  ['::ffff:0:0', 96],
  ['::ffff:0:0:0', 96],
  ['64:ff9b:1::', 48],
  ['2002::', 16],
] as const) {
  forbidden6.addSubnet(net, prefix, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped, -compatible or NAT64 IPv6 address, if any. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Why an address is off limits, or undefined when it is a public address. */
export function forbiddenReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  if (family === 6) {
    const inner = embeddedIpv4(address);
    if (inner) return forbiddenReason(inner);
    return forbidden6.check(address, 'ipv6')
      ? 'a loopback, private, link-local or reserved IPv6 address'
      : undefined;
  }
  if (address === '169.254.169.254') return 'the cloud metadata address';
  return forbidden4.check(address, 'ipv4')
    ? 'a loopback, private, link-local or reserved IPv4 address'
    : undefined;
}

/** Host names, addresses and CIDR ranges that may be reached although they are off limits. */
export class Allowlist {
  readonly #hosts = new Set<string>();
  readonly #ranges = new BlockList();

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
      if (cidr && isIP(cidr[1]!)) {
        const type = isIP(cidr[1]!) === 6 ? 'ipv6' : 'ipv4';
        this.#ranges.addSubnet(cidr[1]!, Number(cidr[2]), type);
      } else if (isIP(unbracket(entry))) {
        const address = unbracket(entry);
        this.#ranges.addAddress(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
      } else {
        this.#hosts.add(entry);
      }
    }
  }

  allowsHost(host: string): boolean {
    return this.#hosts.has(host.toLowerCase());
  }

  allowsAddress(address: string): boolean {
    return this.#ranges.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Resolves `host` and returns the address to connect to, or throws a {@link DestinationError}
 * naming the host, the address and why. Every answer must be allowed, not just the first.
 * `setting` names the allowlist variable in the message, so the user knows what to change.
 */
export async function resolveGuarded(
  host: string,
  allowlist: Allowlist,
  options: { resolver?: Resolver; setting?: string } = {},
): Promise<ResolvedAddress> {
  const bare = unbracket(host);
  const literal = isIP(bare);
  let answers: ResolvedAddress[];
  if (literal) {
    answers = [{ address: bare, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      answers = await (options.resolver ?? systemResolver)(bare);
    } catch (error) {
      throw new DestinationError(
        'DESTINATION_UNRESOLVABLE',
        `cannot resolve host ${bare}: ${(error as Error).message}`,
        { host: bare },
        { cause: error },
      );
    }
  }
  if (answers.length === 0) {
    throw new DestinationError('DESTINATION_UNRESOLVABLE', `host ${bare} resolved to no address`, {
      host: bare,
    });
  }
  const hostAllowed = !literal && allowlist.allowsHost(bare);
  for (const answer of answers) {
    const reason = forbiddenReason(answer.address);
    if (reason && !hostAllowed && !allowlist.allowsAddress(answer.address)) {
      throw new DestinationError(
        'DESTINATION_FORBIDDEN',
        `refusing to connect to ${bare} (${answer.address}): it is ${reason}; add the host or address to ${options.setting ?? 'the allowlist'} if this is intended`,
        { host: bare, address: answer.address },
      );
    }
  }
  return answers[0]!;
}

/**
 * `fetch` through the guard: resolves and checks the URL's host, then connects to exactly
 * that address (TLS still verifies the original host name). Redirects are not followed.
 */
export async function guardedFetch(
  url: string | URL,
  init: RequestInit,
  guard: { allowlist: Allowlist; resolver?: Resolver; setting?: string },
): Promise<Response> {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new DestinationError(
      'DESTINATION_FORBIDDEN',
      `only http and https URLs are allowed, not ${target.protocol}`,
      {
        host: target.hostname,
      },
    );
  }
  const resolved = await resolveGuarded(target.hostname, guard.allowlist, guard);
  const dispatcher = new Agent({
    connect: {
      lookup: (_host, opts, callback) => {
        if ((opts as { all?: boolean }).all) {
          (callback as (e: null, a: ResolvedAddress[]) => void)(null, [resolved]);
        } else {
          (callback as (e: null, a: string, f: number) => void)(
            null,
            resolved.address,
            resolved.family,
          );
        }
      },
    },
  });
  try {
    const response = await undiciFetch(target, { ...init, redirect: 'manual', dispatcher });
    // The body is read by the caller; the agent closes once it is idle.
    return response;
  } finally {
    void dispatcher.close().catch(() => undefined);
  }
}
