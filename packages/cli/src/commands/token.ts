/** `dvt token`: prints a development token signed with the dev secret. */
import type { CliContext } from '../context.ts';
import { devSecret } from '../context.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { mintDevToken, parseRoles, parseTtl, tokenDefaults } from '../token.ts';

/** The api's default AUTH_MAX_TOKEN_TTL_SECONDS (packages/api/src/config.ts). */
const API_DEFAULT_MAX_TTL_SECONDS = 24 * 60 * 60;

export async function tokenCommand(ctx: CliContext): Promise<number> {
  const env = ctx.io.env;
  const secret = devSecret(env, ctx.apiUrl);
  if (!secret) {
    throw new UsageError(
      `no secret to sign with: set DVT_JWT_SECRET to the api's AUTH_JWT_SECRET (the stack's dev secret is used only for an api on this machine, not ${ctx.apiUrl})`,
      'token',
    );
  }
  const tenant = ctx.string('tenant') ?? env.DVT_TENANT ?? tokenDefaults.tenant;
  if (tenant.trim() === '') throw new UsageError('--tenant is empty; give the tenant id', 'token');
  const rolesText = ctx.string('roles') ?? env.DVT_ROLES;
  const ttlSeconds = parseTtl(ctx.string('ttl') ?? '1h');
  if (ttlSeconds > API_DEFAULT_MAX_TTL_SECONDS) {
    // Still minted: an api with a larger AUTH_MAX_TOKEN_TTL_SECONDS takes it.
    ctx.err(
      `dvt token: warning: a token living ${ttlSeconds} s is refused by an api with the default AUTH_MAX_TOKEN_TTL_SECONDS (${API_DEFAULT_MAX_TTL_SECONDS}); use --ttl 24h or less, or raise that setting`,
    );
  }
  const token = await mintDevToken({
    secret,
    sub: ctx.string('sub') ?? tokenDefaults.sub,
    tenant,
    roles: rolesText !== undefined ? parseRoles(rolesText) : [...tokenDefaults.roles],
    ttlSeconds,
    issuer: ctx.string('issuer') ?? env.DVT_JWT_ISSUER ?? tokenDefaults.issuer,
    audience: ctx.string('audience') ?? env.DVT_JWT_AUDIENCE ?? tokenDefaults.audience,
    tenantClaim: ctx.string('tenant-claim') ?? env.DVT_TENANT_CLAIM ?? tokenDefaults.tenantClaim,
    rolesClaim: ctx.string('roles-claim') ?? env.DVT_ROLES_CLAIM ?? tokenDefaults.rolesClaim,
    ...(ctx.io.now ? { now: ctx.io.now() } : {}),
  });
  ctx.out(token);
  return ExitCode.ok;
}
