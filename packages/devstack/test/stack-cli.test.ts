/**
 * `pnpm stack` refuses what it does not understand before it touches anything: a flag given
 * to the wrong command (`up --test` once started a whole dev stack instead of the test
 * servers) and an unknown command both exit 2 with the usage.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { repoRoot } from '../src/paths.ts';

const stackDir = mkdtempSync(path.join(tmpdir(), 'dvt-stack-cli-'));
afterAll(() => rmSync(stackDir, { recursive: true, force: true }));

function stack(...args: string[]): Promise<{ code: number; stderr: string }> {
  return stackWith({}, ...args);
}

async function stackWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stderr: string }> {
  try {
    await promisify(execFile)(
      process.execPath,
      ['--conditions=source', 'scripts/stack.ts', ...args],
      { cwd: repoRoot, env: { ...process.env, ...env, DVT_STACK_DIR: stackDir }, timeout: 30_000 },
    );
    return { code: 0, stderr: '' };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

it.each([
  [['up', '--test'], 'stack up: unknown flag "--test"; up takes --infra-only, --no-build'],
  [['down', '--purge'], 'stack down: --purge only goes with --test'],
  [['status', '--all'], 'stack status: unknown flag "--all"; status takes no flags'],
  [['start'], 'unknown command "start"; use: up [--infra-only]'],
  [['status', 'extra'], 'stack status: unexpected "extra"'],
  [['logs', 'nosuch'], 'stack logs: no process "nosuch"; one of postgres, temporal, minio'],
  [['logs', 'api', '--lines', 'x'], 'stack logs: --lines takes a whole number above 0'],
])('stack %j exits 2 and says why, starting nothing', async (args, message) => {
  const { code, stderr } = await stack(...args);
  expect(code).toBe(2);
  expect(stderr).toContain(message);
  expect(readdirSync(stackDir)).toEqual([]);
});

it('names a port variable that is not a port, in one line, and starts nothing', async () => {
  const { code, stderr } = await stackWith({ DVT_API_PORT: 'abc' }, 'status');
  expect(code).toBe(1);
  expect(stderr.trim()).toBe(
    'stack: DVT_API_PORT="abc" is not a port; give a whole number from 1 to 65535',
  );
  expect(readdirSync(stackDir)).toEqual([]);
});

it('logs --lines N prints the last N lines of the log, no fewer', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dvt-stack-logs-'));
  try {
    mkdirSync(path.join(dir, 'run'));
    writeFileSync(path.join(dir, 'run', 'api.log'), 'one\ntwo\nthree\n');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=source', 'scripts/stack.ts', 'logs', 'api', '--lines', '2'],
      { cwd: repoRoot, env: { ...process.env, DVT_STACK_DIR: dir }, timeout: 30_000 },
    );
    expect(stdout).toBe(`== api (${path.join(dir, 'run', 'api.log')})\ntwo\nthree\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
