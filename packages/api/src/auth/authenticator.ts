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
}

export const API_KEY_PREFIX = 'dvtk_';
const ASYMMETRIC = ['RS256', 'ES256'];

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
    const tenant = claimAt(payload, this.#options.tenantClaim);
    if (typeof tenant !== 'string' || tenant === '') {
      throw unauthenticated(
        `the token has no ${this.#options.tenantClaim} claim with the tenant id`,
      );
    }
    const raw = claimAt(payload, this.#options.rolesClaim);
    const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(' ') : [];
    const grants = list.flatMap((r) => (typeof r === 'string' ? (parseGrant(r) ?? []) : []));
    return {
      tenantId: tenant,
      subject: payload.sub!,
      credential: `jwt:${payload.sub}`,
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
