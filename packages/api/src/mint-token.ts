/**
 * Mints an HS256 dev token signed with AUTH_JWT_SECRET, for local use and tests:
 *
 *   node --conditions=source packages/api/src/mint-token.ts --tenant acme --roles admin --sub alice
 *   node packages/api/dist/mint-token.js --tenant acme --roles viewer:nightly,operator:nightly --ttl 600
 *
 * Options: --tenant (required), --roles (comma separated, `role` or `role:projectId`;
 * default admin), --sub (default dev-user), --ttl seconds (default 3600). The issuer,
 * audience and claim names come from AUTH_ISSUER, AUTH_AUDIENCE, AUTH_TENANT_CLAIM and
 * AUTH_ROLES_CLAIM, as the api reads them. Refuses to run with NODE_ENV=production.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '@dvt/service-kit';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { parseGrant } from './auth/roles.ts';

export interface MintTokenOptions {
  secret: string;
  tenant: string;
  roles: readonly string[];
  subject: string;
  /** Lifetime in seconds. */
  ttlSeconds: number;
  issuer: string;
  audience: string;
  tenantClaim?: string;
  rolesClaim?: string;
}

export async function mintDevToken(options: MintTokenOptions): Promise<string> {
  const bad = options.roles.filter((r) => !parseGrant(r));
  if (bad.length > 0) {
    throw new Error(
      `unknown role ${bad.join(', ')}; use viewer, operator, author or admin, optionally as role:projectId`,
    );
  }
  return new SignJWT({
    [options.tenantClaim ?? 'tenant']: options.tenant,
    [options.rolesClaim ?? 'roles']: [...options.roles],
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.subject)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.ttlSeconds)
    .sign(new TextEncoder().encode(options.secret));
}

const mintEnv = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  AUTH_ISSUER: z.string().default('dvt-dev'),
  AUTH_AUDIENCE: z.string().default('dvt-api'),
  AUTH_TENANT_CLAIM: z.string().default('tenant'),
  AUTH_ROLES_CLAIM: z.string().default('roles'),
});

async function main(): Promise<void> {
  const env = loadConfig(mintEnv);
  if (env.NODE_ENV === 'production')
    throw new Error('dev tokens are not minted with NODE_ENV=production');
  const { values } = parseArgs({
    options: {
      tenant: { type: 'string' },
      roles: { type: 'string', default: 'admin' },
      sub: { type: 'string', default: 'dev-user' },
      ttl: { type: 'string', default: '3600' },
    },
  });
  if (!values.tenant) throw new Error('--tenant is required, e.g. --tenant acme');
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0)
    throw new Error('--ttl must be a positive number of seconds');
  const token = await mintDevToken({
    secret: env.AUTH_JWT_SECRET,
    tenant: values.tenant,
    roles: values.roles
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean),
    subject: values.sub,
    ttlSeconds: ttl,
    issuer: env.AUTH_ISSUER,
    audience: env.AUTH_AUDIENCE,
    tenantClaim: env.AUTH_TENANT_CLAIM,
    rolesClaim: env.AUTH_ROLES_CLAIM,
  });
  process.stdout.write(`${token}\n`);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`mint-token: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
