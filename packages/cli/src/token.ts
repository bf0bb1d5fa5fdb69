/**
 * Development tokens: HS256 JWTs signed with the api's dev secret (DESIGN §8), carrying
 * `sub`, the tenant claim, the roles claim (a list of `role` or `role:projectId`), `iss`,
 * `aud`, `iat` and `exp`. The claim names, issuer and audience default to the api's defaults
 * (AUTH_TENANT_CLAIM, AUTH_ROLES_CLAIM, AUTH_ISSUER, AUTH_AUDIENCE) and can be changed to fit
 * an api configured otherwise.
 */
import { SignJWT } from 'jose';
import { UsageError } from './errors.ts';

/** The secret the native stack and `.env.example` configure for the api in development. */
export const STACK_DEV_JWT_SECRET = 'dev-only-insecure-jwt-secret-change-me';

export interface DevTokenOptions {
  secret: string;
  sub: string;
  tenant: string;
  roles: string[];
  /** Lifetime in seconds. */
  ttlSeconds: number;
  issuer: string;
  audience: string;
  tenantClaim: string;
  rolesClaim: string;
  /** The clock, epoch ms (default Date.now()). */
  now?: number;
}

export const tokenDefaults = {
  sub: 'dvt-cli',
  tenant: 'dev',
  roles: ['admin'],
  ttlSeconds: 3600,
  issuer: 'dvt-dev',
  audience: 'dvt-api',
  tenantClaim: 'tenant',
  rolesClaim: 'roles',
} as const;

export async function mintDevToken(options: DevTokenOptions): Promise<string> {
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  // A nested claim name (`org.tenant`) is written as a nested object, as the api reads it.
  const claims: Record<string, unknown> = {};
  setClaim(claims, options.tenantClaim, options.tenant);
  setClaim(claims, options.rolesClaim, options.roles);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + options.ttlSeconds)
    .sign(new TextEncoder().encode(options.secret));
}

function setClaim(claims: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = claims;
  for (const part of parts.slice(0, -1)) {
    const next = (node[part] ??= {}) as Record<string, unknown>;
    node = next;
  }
  node[parts[parts.length - 1]!] = value;
}

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90`, `90s`, `30m`, `1h`, `7d` → seconds. */
export function parseTtl(text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * TTL_UNITS[match[2] || 's']! : NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new UsageError(
      `--ttl ${JSON.stringify(text)} is not a duration; use a positive number with s, m, h or d (e.g. 1h)`,
      'token',
    );
  }
  return seconds;
}

/** `admin,operator:proj` → ['admin', 'operator:proj']; rejects an empty list. */
export function parseRoles(text: string): string[] {
  const roles = text
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (roles.length === 0) {
    throw new UsageError('--roles is empty; give roles like admin or operator:my-project', 'token');
  }
  return roles;
}

/** Whether the URL's host is this machine (the only place the stack's dev secret applies). */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}
