/**
 * Turns a presented credential into a Principal: a bearer JWT (HS256 with the configured
 * secret; RS256/ES256 through the JWKS URL, with issuer and audience checks) or an API key
 * (`dvtk_…`, looked up by its SHA-256). Every failure is a 401 UNAUTHENTICATED whose detail
 * says what is wrong, never echoing the token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ProblemError } from '@dvt/service-kit';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type pg from 'pg';
import { parseGrant, type Grant } from './roles.ts';

export interface Principal {
  tenantId: string;
  subject: string;
  /** Stable id of the credential, for rate limits and audit: `jwt:<sub>` or `key:<id>`. */
  credential: string;
  kind: 'jwt' | 'api-key';
  grants: Grant[];
  /** Expiry in epoch ms, if the credential expires. */
  expiresAt: number | null;
}

export interface AuthenticatorOptions {
  pool: pg.Pool;
  /** HS256 secret; tokens with alg HS256 are checked against it and nothing else. */
  jwtSecret?: string | undefined;
  /** JWKS of an identity provider; tokens with alg RS256/ES256 are checked against it. */
  jwksUrl?: string | undefined;
  issuer: string;
  audience: string;
  /** Claim holding the tenant id; a dot path reaches nested claims (`org.tenant`). */
  tenantClaim: string;
  /** Claim holding the roles: an array of strings or one space-separated string. */
  rolesClaim: string;
  /** Longest accepted token lifetime (exp - iat, or exp - now without iat), in seconds. */
  maxTokenTtlSeconds?: number | undefined;
}

export const API_KEY_PREFIX = 'dvtk_';
const ASYMMETRIC = ['RS256', 'ES256'];

/**
 * What claim values may be: the tenant id is stored and compared in every query, so it is a
 * plain identifier; subject and roles land in audit rows and logs, so they may not hold
 * control characters (U+0000 included, which PostgreSQL text cannot hold) and are bounded.
 */
const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const MAX_SUBJECT_LENGTH = 256;
const MAX_ROLE_LENGTH = 200;
const MAX_ROLES = 100;

function isPrintable(value: string, maxLength: number): boolean {
  if (value.length < 1 || value.length > maxLength) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // C0 controls (U+0000 included), DEL and C1 controls.
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}

export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #secret: Uint8Array | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : undefined;
    this.#jwks = options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl), {
          timeoutDuration: 3_000,
          cooldownDuration: 10_000,
        })
      : undefined;
  }

  async authenticate(token: string): Promise<Principal> {
    if (token.startsWith(API_KEY_PREFIX)) return this.#apiKey(token);
    return this.#jwt(token);
  }

  async #jwt(token: string): Promise<Principal> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthenticated(
        'the bearer token is not a JWT (expected header.payload.signature) nor an API key',
      );
    }
    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && this.#secret) {
        ({ payload } = await jwtVerify(token, this.#secret, this.#verifyOptions(['HS256'])));
      } else if (alg && ASYMMETRIC.includes(alg) && this.#jwks) {
        ({ payload } = await jwtVerify(token, this.#jwks, this.#verifyOptions(ASYMMETRIC)));
      } else {
        const accepted = [...(this.#secret ? ['HS256'] : []), ...(this.#jwks ? ASYMMETRIC : [])];
        throw unauthenticated(
          `the token's algorithm ${alg ?? '(none)'} is not accepted; use ${accepted.join(' or ')}`,
        );
      }
    } catch (error) {
      throw explainJoseError(error, this.#options);
    }
    return this.#principalFromClaims(payload);
  }

  #verifyOptions(algorithms: string[]) {
    return {
      algorithms,
      issuer: this.#options.issuer,
      audience: this.#options.audience,
      requiredClaims: ['sub', 'exp'],
    };
  }

  #principalFromClaims(payload: JWTPayload): Principal {
    const { tenantClaim, rolesClaim } = this.#options;
    const tenant = claimAt(payload, tenantClaim);
    if (typeof tenant !== 'string' || tenant === '') {
      throw unauthenticated(`the token has no ${tenantClaim} claim with the tenant id`);
    }
    if (!TENANT_PATTERN.test(tenant)) {
      throw unauthenticated(
        `the token's ${tenantClaim} claim is not a valid tenant id: use 1–128 letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit`,
      );
    }
    const subject = payload.sub!;
    if (!isPrintable(subject, MAX_SUBJECT_LENGTH)) {
      throw unauthenticated(
        `the token's sub claim is not valid: use 1–${MAX_SUBJECT_LENGTH} characters without control characters`,
      );
    }
    const maxTtl = this.#options.maxTokenTtlSeconds;
    if (maxTtl !== undefined && typeof payload.exp === 'number') {
      const issuedAt = typeof payload.iat === 'number' ? payload.iat : Date.now() / 1000;
      if (payload.exp - issuedAt > maxTtl) {
        throw unauthenticated(
          `the token lives longer than the ${maxTtl} s this api accepts (exp - iat, AUTH_MAX_TOKEN_TTL_SECONDS); issue a shorter-lived token`,
        );
      }
    }
    const raw = claimAt(payload, rolesClaim);
    const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(' ') : [];
    if (
      list.length > MAX_ROLES ||
      list.some((r) => typeof r === 'string' && r !== '' && !isPrintable(r, MAX_ROLE_LENGTH))
    ) {
      throw unauthenticated(
        `the token's ${rolesClaim} claim is not valid: at most ${MAX_ROLES} roles of 1–${MAX_ROLE_LENGTH} characters without control characters`,
      );
    }
    const grants = list.flatMap((r) => (typeof r === 'string' ? (parseGrant(r) ?? []) : []));
    return {
      tenantId: tenant,
      subject,
      credential: `jwt:${subject}`,
      kind: 'jwt',
      grants,
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    };
  }

  async #apiKey(token: string): Promise<Principal> {
    const { rows } = await this.#options.pool.query<{
      id: string;
      tenantId: string;
      roles: string[];
      expiresAt: Date | null;
      revokedAt: Date | null;
    }>(
      `select id, tenant_id as "tenantId", roles, expires_at as "expiresAt", revoked_at as "revokedAt"
         from api_keys where key_hash = $1`,
      [hashApiKey(token)],
    );
    const key = rows[0];
    if (!key) throw unauthenticated('the API key is not known; create one with POST /v1/api-keys');
    if (key.revokedAt) throw unauthenticated('the API key was revoked');
    if (key.expiresAt && key.expiresAt.getTime() <= Date.now())
      throw unauthenticated('the API key has expired');
    return {
      tenantId: key.tenantId,
      subject: `api-key:${key.id}`,
      credential: `key:${key.id}`,
      kind: 'api-key',
      grants: key.roles.flatMap((r) => parseGrant(r) ?? []),
      expiresAt: key.expiresAt?.getTime() ?? null,
    };
  }
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function newApiKey(): { key: string; prefix: string; hash: string } {
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { key, prefix: key.slice(0, 12), hash: hashApiKey(key) };
}

function claimAt(payload: JWTPayload, path: string): unknown {
  if (path in payload) return payload[path];
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function unauthenticated(detail: string): ProblemError {
  return new ProblemError('UNAUTHENTICATED', detail);
}

function explainJoseError(error: unknown, options: AuthenticatorOptions): ProblemError {
  if (error instanceof ProblemError) return error;
  if (error instanceof joseErrors.JWTExpired)
    return unauthenticated('the token has expired; get a new one');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'iss')
      return unauthenticated(`the token's issuer is not ${options.issuer}`);
    if (error.claim === 'aud')
      return unauthenticated(`the token's audience does not include ${options.audience}`);
    return unauthenticated(`the token's ${error.claim} claim is invalid: ${error.reason}`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return unauthenticated('the token signature does not verify');
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return unauthenticated('the token algorithm is not allowed');
  if (error instanceof joseErrors.JWKSNoMatchingKey)
    return unauthenticated('no key of the JWKS matches the token (kid)');
  if (error instanceof joseErrors.JWKSTimeout) {
    return new ProblemError('DEPENDENCY_UNAVAILABLE', 'the identity provider JWKS did not answer', {
      dependency: 'jwks',
    });
  }
  if (error instanceof joseErrors.JOSEError)
    return unauthenticated(`the token is invalid (${error.code})`);
  return new ProblemError(
    'DEPENDENCY_UNAVAILABLE',
    'the token could not be checked against the JWKS',
    {
      dependency: 'jwks',
    },
  );
}
