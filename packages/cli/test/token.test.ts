import { decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/index.ts';
import {
  mintDevToken,
  parseRoles,
  parseTtl,
  STACK_DEV_JWT_SECRET,
  tokenDefaults,
} from '../src/token.ts';
import { captureIo } from './helpers.ts';

const secret = 'a-test-secret-of-more-than-thirty-two-chars';
const key = new TextEncoder().encode(secret);

describe('dev tokens', () => {
  it('signs sub, tenant, roles, iss, aud and exp with HS256', async () => {
    const now = Date.parse('2025-06-01T10:00:00Z');
    const token = await mintDevToken({
      ...tokenDefaults,
      secret,
      tenant: 'acme',
      roles: ['admin', 'operator:shop'],
      ttlSeconds: 600,
      now,
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const { payload } = await jwtVerify(token, key, {
      issuer: 'dvt-dev',
      audience: 'dvt-api',
      currentDate: new Date(now + 1000),
    });
    expect(payload).toEqual({
      sub: 'dvt-cli',
      tenant: 'acme',
      roles: ['admin', 'operator:shop'],
      iss: 'dvt-dev',
      aud: 'dvt-api',
      iat: now / 1000,
      exp: now / 1000 + 600,
    });
  });

  it('writes configured (and nested) claim names', async () => {
    const token = await mintDevToken({
      ...tokenDefaults,
      secret,
      roles: ['viewer'],
      tenantClaim: 'org.tenant',
      rolesClaim: 'https://dvt/roles',
    });
    const { payload } = await jwtVerify(token, key);
    expect(payload.org).toEqual({ tenant: 'dev' });
    expect(payload['https://dvt/roles']).toEqual(['viewer']);
  });

  it('dvt token prints a token verifiable with the stack dev secret', async () => {
    const io = captureIo({ env: {} });
    const code = await runCli(
      [
        'token',
        '--tenant',
        't1',
        '--roles',
        'operator:proj, viewer',
        '--sub',
        'bob',
        '--ttl',
        '2h',
      ],
      io,
    );
    expect(code).toBe(0);
    const { payload } = await jwtVerify(
      io.stdoutText().trim(),
      new TextEncoder().encode(STACK_DEV_JWT_SECRET),
    );
    expect([payload.sub, payload.tenant, payload.roles, payload.exp! - payload.iat!]).toEqual([
      'bob',
      't1',
      ['operator:proj', 'viewer'],
      7200,
    ]);
  });

  it('refuses to sign with the stack dev secret for an api on another host', async () => {
    const io = captureIo({ env: { DVT_API_URL: 'https://dvt.example.com' } });
    expect(await runCli(['token'], io)).toBe(2);
    expect(io.stderrText()).toBe(
      "dvt: no secret to sign with: set DVT_JWT_SECRET to the api's AUTH_JWT_SECRET (the stack's dev secret is used only for an api on this machine, not https://dvt.example.com) (see: dvt token --help)\n",
    );
  });

  it('parses lifetimes and role lists, rejecting bad ones with how to fix them', () => {
    expect([
      parseTtl('90'),
      parseTtl('90s'),
      parseTtl('30m'),
      parseTtl('1h'),
      parseTtl('7d'),
    ]).toEqual([90, 90, 1800, 3600, 604800]);
    expect(() => parseTtl('1w')).toThrow(
      '--ttl "1w" is not a duration; use a positive number with s, m, h or d (e.g. 1h)',
    );
    expect(() => parseTtl('0')).toThrow('--ttl "0" is not a duration');
    expect(parseRoles('admin,operator:proj')).toEqual(['admin', 'operator:proj']);
    expect(() => parseRoles(' , ')).toThrow(
      '--roles is empty; give roles like admin or operator:my-project',
    );
  });
});
