import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Allowlist,
  DestinationError,
  forbiddenReason,
  guardedFetch,
  resolveGuarded,
  type Resolver,
} from '../src/index.ts';

const none = new Allowlist([]);

describe('forbiddenReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'the cloud metadata address'],
    ['0.0.0.0', 'reserved'],
    ['::1', 'IPv6'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['fd00::1', 'IPv6'],
    ['fe80::1', 'IPv6'],
    ['::ffff:0:7f00:1', 'IPv6'],
    ['::7f00:1', 'IPv6'],
    ['64:ff9b:1::a9fe:a9fe', 'IPv6'],
    ['2002:7f00:1::1', 'IPv6'],
    ['2002:a9fe:a9fe::1', 'IPv6'],
  ])('refuses %s', (address, why) => {
    expect(forbiddenReason(address)).toContain(why);
  });

  it.each(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'])(
    'allows the public address %s',
    (address) => {
      expect(forbiddenReason(address)).toBeUndefined();
    },
  );
});

describe('resolveGuarded', () => {
  it('refuses a name whose answers include a private address, even if the first is public', async () => {
    const resolver: Resolver = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ];
    const error = await resolveGuarded('rebind.example', none, {
      resolver,
      setting: 'WEBHOOK_ALLOWLIST',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as DestinationError).code).toBe('DESTINATION_FORBIDDEN');
    expect((error as Error).message).toBe(
      'refusing to connect to rebind.example (10.0.0.5): it is a loopback, private, link-local or reserved IPv4 address; add the host or address to WEBHOOK_ALLOWLIST if this is intended',
    );
  });

  it('lets an allowlisted host, address or range through', async () => {
    const resolver: Resolver = async () => [{ address: '10.0.0.5', family: 4 }];
    expect(
      await resolveGuarded('svc.internal', new Allowlist(['svc.internal']), { resolver }),
    ).toEqual({ address: '10.0.0.5', family: 4 });
    expect(await resolveGuarded('10.0.0.5', new Allowlist(['10.0.0.0/8']))).toEqual({
      address: '10.0.0.5',
      family: 4,
    });
    expect(await resolveGuarded('[::1]', new Allowlist(['::1']))).toEqual({
      address: '::1',
      family: 6,
    });
  });

  it('reports a name that does not resolve', async () => {
    const resolver: Resolver = async () => {
      throw new Error('ENOTFOUND');
    };
    await expect(resolveGuarded('nope.example', none, { resolver })).rejects.toMatchObject({
      code: 'DESTINATION_UNRESOLVABLE',
    });
  });
});

describe('guardedFetch', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((req, res) =>
      res.writeHead(200, { 'x-host': String(req.headers.host) }).end('ok'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  it('refuses loopback without an allowlist, before any connection is made', async () => {
    let connections = 0;
    server.on('connection', () => connections++);
    await expect(
      guardedFetch(`http://127.0.0.1:${port}/`, {}, { allowlist: none }),
    ).rejects.toMatchObject({ code: 'DESTINATION_FORBIDDEN' });
    expect(connections).toBe(0);
  });

  it('connects to the checked address, keeping the host name in the request', async () => {
    const resolver: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
    const res = await guardedFetch(
      `http://hooks.test:${port}/x`,
      {},
      { allowlist: new Allowlist(['127.0.0.1']), resolver },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-host')).toBe(`hooks.test:${port}`);
    expect(await res.text()).toBe('ok');
  });

  it('refuses schemes other than http and https', async () => {
    await expect(guardedFetch('file:///etc/passwd', {}, { allowlist: none })).rejects.toMatchObject(
      { code: 'DESTINATION_FORBIDDEN' },
    );
  });
});
