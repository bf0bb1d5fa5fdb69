/**
 * The native stack end to end, on ports and a folder of its own so it can run beside a
 * developer's stack: six processes up with every /healthz 200 and the Temporal UI answering,
 * `up` twice is safe, a taken port is reported, and `down` stops exactly what `up` started.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../src/process.ts';
import { repoRoot } from '../src/paths.ts';

const run = promisify(execFile);
const base = 36000 + Math.floor(Math.random() * 40) * 20;
const ports = {
  DVT_PG_PORT: base,
  DVT_TEMPORAL_PORT: base + 1,
  DVT_TEMPORAL_UI_PORT: base + 4,
  DVT_MINIO_PORT: base + 5,
  DVT_MINIO_CONSOLE_PORT: base + 6,
  DVT_API_PORT: base + 7,
  DVT_PLANNER_PORT: base + 8,
  DVT_ENGINE_PORT: base + 9,
};
const stackDir = mkdtempSync(path.join(tmpdir(), 'dvt-stack-test-'));
const env = {
  ...process.env,
  DVT_STACK_DIR: stackDir,
  ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
};

function stack(...args: string[]) {
  return run(process.execPath, ['--conditions=source', 'scripts/stack.ts', ...args], {
    cwd: repoRoot,
    env,
    timeout: 240_000,
  });
}

function pids(): number[] {
  const dir = path.join(stackDir, 'run');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { pid: number }).pid);
}

describe('pnpm stack', () => {
  beforeAll(async () => {
    await stack('up', '--no-build');
  }, 300_000);

  afterAll(async () => {
    await stack('down').catch(() => undefined);
    rmSync(stackDir, { recursive: true, force: true });
  }, 120_000);

  it('brings up six processes with every /healthz at 200 and the Temporal UI answering', async () => {
    expect(pids()).toHaveLength(6);
    for (const port of [ports.DVT_API_PORT, ports.DVT_PLANNER_PORT, ports.DVT_ENGINE_PORT]) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
    }
    const ui = await fetch(`http://127.0.0.1:${ports.DVT_TEMPORAL_UI_PORT}/`);
    expect(ui.status).toBe(200);
    const { stdout } = await stack('status');
    expect(stdout.match(/\/healthz 200/g)).toHaveLength(3);
  });

  it('is safe to bring up twice: nothing new is started', async () => {
    const before = pids().sort();
    const { stdout } = await stack('up', '--no-build');
    expect(stdout.match(/already running/g)).toHaveLength(6);
    expect(pids().sort()).toEqual(before);
  });

  it('stops exactly the processes it started, and reports a taken port on the next up', async () => {
    const started = pids();
    await stack('down');
    expect(started.filter(isAlive)).toEqual([]);
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(ports.DVT_PG_PORT, '127.0.0.1', resolve);
    });
    try {
      const failure = await stack('up', '--no-build').then(
        () => undefined,
        (error: { stderr: string; code: number }) => error,
      );
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toContain(
        `port ${ports.DVT_PG_PORT} (for postgres) is already in use`,
      );
      expect(failure?.stderr).toContain('DVT_PG_PORT');
    } finally {
      squatter.close();
    }
  });
});
