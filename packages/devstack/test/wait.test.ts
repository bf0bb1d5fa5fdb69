/**
 * Waiting for a server to turn ready: a server that exits is reported at once with the end of
 * its log (not after the whole timeout), and a port clash is told apart so a caller can retry
 * on other ports. Uses the real Temporal CLI for the clash, the case seen in CI.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePortBlock } from '../../testkit/src/ports.ts';
import { ensureTemporal } from '../src/infra.ts';
import {
  ExitedBeforeReadyError,
  freePort,
  isAlive,
  startDetached,
  waitFor,
} from '../src/process.ts';

const runDir = mkdtempSync(path.join(tmpdir(), 'dvt-wait-test-'));
afterAll(() => rmSync(runDir, { recursive: true, force: true }));

function listenOn(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('waitFor', () => {
  it('fails as soon as the process exits, with the end of its log', async () => {
    const proc = startDetached({
      name: 'quits',
      command: 'sh',
      args: ['-c', 'echo "starting"; echo "fatal: config file missing"; exit 3'],
      runDir,
    });
    const started = Date.now();
    const error = await waitFor('quits', async () => false, 30_000, proc).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExitedBeforeReadyError);
    expect((error as Error).message).toContain('quits exited before it was ready');
    expect((error as Error).message).toContain('fatal: config file missing');
    expect((error as ExitedBeforeReadyError).portClash).toBe(false);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('times out with the last answer and leaves per-request log lines out of the tail', async () => {
    const proc = startDetached({
      name: 'never-ready',
      command: 'sh',
      args: [
        '-c',
        `echo '{"msg":"worker failed; restarting","err":"namespace missing"}'; ` +
          `for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22; do echo '{"msg":"request completed"}'; done; sleep 30`,
      ],
      runDir,
    });
    try {
      const error = await waitFor(
        'never-ready',
        async () => false,
        1_500,
        proc,
        async () => '503 {"worker":"down"}',
      ).catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ExitedBeforeReadyError);
      const message = (error as Error).message;
      expect(message).toContain('never-ready did not become ready within 1500 ms');
      expect(message).toContain('last answer: 503 {"worker":"down"}');
      expect(message).toContain('namespace missing');
      expect(message).not.toContain('request completed');
    } finally {
      process.kill(-proc.pid, 'SIGKILL');
    }
  });
});

describe('ensureTemporal', () => {
  it('reports a taken metrics port within seconds, as a port clash', async () => {
    const base = await freePortBlock(3);
    const taken = await listenOn(base + 2);
    try {
      const started = Date.now();
      const error = await ensureTemporal({
        name: 'clash',
        port: base,
        runDir,
        httpPort: base + 1,
        metricsPort: base + 2,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExitedBeforeReadyError);
      expect((error as ExitedBeforeReadyError).portClash).toBe(true);
      expect((error as Error).message).toContain(`metrics port ${base + 2}`);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      taken.close();
    }
  });
});

describe('freePortBlock', () => {
  it('hands out consecutive bindable ports below the ephemeral range', async () => {
    const base = await freePortBlock(20);
    expect(base).toBeGreaterThanOrEqual(20_000);
    expect(base + 20).toBeLessThanOrEqual(32_768);
    const servers = await Promise.all(Array.from({ length: 20 }, (_, i) => listenOn(base + i)));
    for (const s of servers) s.close();
    // and a kernel-chosen port is never in such a block
    expect(await freePort()).toBeGreaterThanOrEqual(32_768);
  });
});

describe('isAlive', () => {
  it('is false for a killed process that its parent never reaps (a zombie)', async () => {
    // `sleep 60` becomes the parent of the background sleep and never waits for it, as a
    // container's init may not: the killed grandchild stays a zombie.
    const parent = spawn('sh', ['-c', 'sleep 30 & echo $!; exec sleep 60']);
    try {
      const pid = await new Promise<number>((resolve) =>
        parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
      );
      expect(isAlive(pid)).toBe(true);
      process.kill(pid, 'SIGKILL');
      let state = '';
      for (let i = 0; i < 100 && !/\) Z /.test(state); i++) {
        await new Promise((r) => setTimeout(r, 20));
        state = readFileSync(`/proc/${pid}/stat`, 'utf8');
      }
      expect(state).toMatch(/\) Z /);
      expect(isAlive(pid)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
