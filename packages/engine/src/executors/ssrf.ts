/**
 * The SSRF guard of http steps. A URL's host is resolved first; every address it resolves to
 * is checked against the ranges an orchestrator must never reach on a plan author's behalf
 * (loopback, private, link-local with the cloud metadata address, carrier-grade NAT,
 * unspecified, multicast, reserved), unless HTTP_ALLOWLIST names the host, the address or a
 * range holding it. The request then connects to the address that was checked, never to a
 * second resolution of the name, so a DNS answer that changes in between (rebinding) cannot
 * redirect it.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { StepError } from './types.ts';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => {
  const answers = await dnsLookup(host, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

const forbidden = new BlockList();
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
  forbidden.addSubnet(net, prefix, 'ipv4');
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
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv6');
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
    return forbidden.check(address, 'ipv6')
      ? 'a loopback, private, link-local or reserved IPv6 address'
      : undefined;
  }
  if (address === '169.254.169.254') return 'the cloud metadata address';
  return forbidden.check(address, 'ipv4')
    ? 'a loopback, private, link-local or reserved IPv4 address'
    : undefined;
}

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
 * Resolves `host` and returns the address to connect to, or throws HTTP_DESTINATION_FORBIDDEN
 * naming the host, the address and why. Every answer must be allowed, not just the first.
 */
export async function resolveGuarded(
  host: string,
  allowlist: Allowlist,
  resolver: Resolver = systemResolver,
): Promise<ResolvedAddress> {
  const bare = unbracket(host);
  const literal = isIP(bare);
  let answers: ResolvedAddress[];
  if (literal) {
    answers = [{ address: bare, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      answers = await resolver(bare);
    } catch (error) {
      throw new StepError(
        'HTTP_DNS_FAILED',
        `cannot resolve host ${bare}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  if (answers.length === 0) {
    throw new StepError('HTTP_DNS_FAILED', `host ${bare} resolved to no address`);
  }
  const hostAllowed = !literal && allowlist.allowsHost(bare);
  for (const answer of answers) {
    const reason = forbiddenReason(answer.address);
    if (reason && !hostAllowed && !allowlist.allowsAddress(answer.address)) {
      throw new StepError(
        'HTTP_DESTINATION_FORBIDDEN',
        `refusing to connect to ${bare} (${answer.address}): it is ${reason}; add the host or address to HTTP_ALLOWLIST if this is intended`,
        { retryable: false, details: { host: bare, address: answer.address } },
      );
    }
  }
  return answers[0]!;
}
