import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@dvt/service-kit';
import { DEV_JWT_SECRET, loadApiConfig } from '../src/config.ts';
import { freePort, startApi, TEST_SECRET, type ApiHarness } from './helpers.ts';

let hs: ApiHarness;
let jwks: ApiHarness;
let jwksServer: Server;
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let ec: { privateKey: CryptoKey; publicKey: CryptoKey };
const ISS = 'https://idp.dvt.test/realms/dvt';
const AUD = 'dvt-api';

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function claims(extra: Record<string, unknown> = {}) {
  return { org: 'acme', realm_access: { roles: ['viewer'] }, ...extra };
}

async function signed(
  alg: 'RS256' | 'ES256',
  key: CryptoKey,
  options: { iss?: string; aud?: string; exp?: number; claims?: Record<string, unknown> } = {},
) {
  return new SignJWT(options.claims ?? claims())
    .setProtectedHeader({ alg, kid: alg === 'RS256' ? 'rsa-1' : 'ec-1' })
    .setSubject('alice')
    .setIssuer(options.iss ?? ISS)
    .setAudience(options.aud ?? AUD)
    .setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 300)
    .sign(key);
}

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  const keys = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ];
  const port = await freePort();
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(port, '127.0.0.1', resolve));
  hs = await startApi();
  jwks = await startApi(
    {
      AUTH_JWT_SECRET: '',
      AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      AUTH_ISSUER: ISS,
      AUTH_AUDIENCE: AUD,
      AUTH_TENANT_CLAIM: 'org',
      AUTH_ROLES_CLAIM: 'realm_access.roles',
    },
    hs.db,
  );
});

afterAll(async () => {
  await jwks?.close();
  await hs?.close();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

async function expect401(api: ApiHarness, token: string, detail: string) {
  const res = await api.call('GET', '/v1/projects', { token });
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(res.body.code).toBe('UNAUTHENTICATED');
  expect(res.body.detail).toBe(detail);
  expect(JSON.stringify(res.body)).not.toContain(token);
}

describe('JWT verification', () => {
  it('accepts RS256 and ES256 tokens from the JWKS, with configured claim names', async () => {
    for (const token of [
      await signed('RS256', rsa.privateKey),
      await signed('ES256', ec.privateKey),
    ]) {
      const res = await jwks.call('GET', '/v1/projects', { token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ projects: [] });
    }
  });

  it('refuses alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims(), sub: 'alice', iss: ISS, aud: AUD, exp: Math.floor(Date.now() / 1000) + 300 })}.`;
    await expect401(jwks, token, "the token's algorithm none is not accepted; use RS256 or ES256");
    await expect401(hs, token, "the token's algorithm none is not accepted; use HS256");
  });

  it('refuses an expired token', async () => {
    await expect401(
      jwks,
      await signed('RS256', rsa.privateKey, { exp: Math.floor(Date.now() / 1000) - 10 }),
      'the token has expired; get a new one',
    );
  });

  it('refuses a wrong audience and a wrong issuer', async () => {
    await expect401(
      jwks,
      await signed('RS256', rsa.privateKey, { aud: 'other-api' }),
      `the token's audience does not include ${AUD}`,
    );
    await expect401(
      jwks,
      await signed('ES256', ec.privateKey, { iss: 'https://evil.example' }),
      `the token's issuer is not ${ISS}`,
    );
  });

  it('refuses HS256 signed with the RSA public key (key confusion)', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const jwk = JSON.stringify(await exportJWK(rsa.publicKey));
    for (const secret of [pem, jwk]) {
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
        .setSubject('alice')
        .setIssuer(ISS)
        .setAudience(AUD)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(secret));
      await expect401(
        jwks,
        token,
        "the token's algorithm HS256 is not accepted; use RS256 or ES256",
      );
    }
  });

  it('refuses a tampered payload and a tampered signature', async () => {
    const token = await signed('RS256', rsa.privateKey);
    const [header, , signature] = token.split('.');
    const forged = `${header}.${b64({ ...claims({ realm_access: { roles: ['admin'] } }), sub: 'alice', iss: ISS, aud: AUD, exp: Math.floor(Date.now() / 1000) + 300 })}.${signature}`;
    await expect401(jwks, forged, 'the token signature does not verify');
    const flipped = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    await expect401(jwks, flipped, 'the token signature does not verify');
    const hsToken = await hs.token('acme', ['admin']);
    await expect401(hs, `${hsToken.slice(0, -3)}abc`, 'the token signature does not verify');
  });

  it('refuses a token without the tenant claim and garbage that is no JWT', async () => {
    const token = await signed('RS256', rsa.privateKey, {
      claims: { realm_access: { roles: ['admin'] } },
    });
    await expect401(jwks, token, 'the token has no org claim with the tenant id');
    await expect401(
      hs,
      'not-a-token',
      'the bearer token is not a JWT (expected header.payload.signature) nor an API key',
    );
  });

  it('ignores roles it does not know', async () => {
    const token = await signed('RS256', rsa.privateKey, {
      claims: claims({ realm_access: { roles: ['superuser', 'admin:'] } }),
    });
    const res = await jwks.call('GET', '/v1/projects', { token });
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe(
      'this action needs the role viewer or operator or author or admin; the credential grants: none',
    );
  });
});

describe('API keys', () => {
  it('are shown once, stored hashed, usable, and revocable', async () => {
    const admin = await hs.token('keys-tenant', ['admin']);
    const created = await hs.call('POST', '/v1/api-keys', {
      token: admin,
      body: { name: 'ci', roles: ['viewer'] },
    });
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    expect(key).toMatch(/^dvtk_[A-Za-z0-9_-]{43}$/);
    expect(created.body.prefix).toBe(key.slice(0, 12));

    const listed = await hs.call('GET', '/v1/api-keys', { token: admin });
    expect(JSON.stringify(listed.body)).not.toContain(key);
    const { rows } = await hs.service.database.pool.query(
      'select key_hash from api_keys where id = $1',
      [created.body.id],
    );
    expect(rows[0].key_hash).toBe(createHash('sha256').update(key).digest('hex'));

    expect((await hs.call('GET', '/v1/projects', { token: key })).status).toBe(200);
    const write = await hs.call('POST', '/v1/projects', {
      token: key,
      body: { projectId: 'nope', name: 'n' },
    });
    expect(write.status).toBe(403);

    expect(
      (await hs.call('DELETE', `/v1/api-keys/${created.body.id}`, { token: admin })).status,
    ).toBe(204);
    await expect401(hs, key, 'the API key was revoked');
    await expect401(
      hs,
      'dvtk_unknown',
      'the API key is not known; create one with POST /v1/api-keys',
    );
  });

  it('rejects unknown roles on a new key with a clear message', async () => {
    const admin = await hs.token('keys-tenant', ['admin']);
    const res = await hs.call('POST', '/v1/api-keys', {
      token: admin,
      body: { name: 'x', roles: ['root'] },
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.detail).toBe(
      'invalid body: body.roles.0: must be viewer, operator, author or admin, optionally followed by :projectId',
    );
  });
});

describe('configuration', () => {
  const base = {
    DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
    INTERNAL_API_TOKEN: 'x'.repeat(20),
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
    PLANNER_URL: 'http://127.0.0.1:8081',
    ENGINE_URL: 'http://127.0.0.1:8082',
  };

  it('refuses the dev secret in production, naming the variable and not the value', () => {
    let error: unknown;
    try {
      loadApiConfig({ ...base, NODE_ENV: 'production', AUTH_JWT_SECRET: DEV_JWT_SECRET });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'invalid configuration: AUTH_JWT_SECRET: is the development secret from .env.example, refused in production; set a random secret of 32+ characters or AUTH_JWKS_URL',
    );
    expect((error as Error).message).not.toContain(DEV_JWT_SECRET);
  });

  it('accepts the dev secret in development and a real secret in production', () => {
    expect(loadApiConfig({ ...base, AUTH_JWT_SECRET: DEV_JWT_SECRET }).AUTH_JWT_SECRET).toBe(
      DEV_JWT_SECRET,
    );
    expect(
      loadApiConfig({ ...base, NODE_ENV: 'production', AUTH_JWT_SECRET: TEST_SECRET }).NODE_ENV,
    ).toBe('production');
  });
});
