/**
 * `pnpm stack` refuses what it does not understand before it touches anything: a flag given
 * to the wrong command (`up --test` once started a whole dev stack instead of the test
 * servers) and an unknown command both exit 2 with the usage.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { repoRoot } from '../src/paths.ts';

const stackDir = mkdtempSync(path.join(tmpdir(), 'dvt-stack-cli-'));
afterAll(() => rmSync(stackDir, { recursive: true, force: true }));

async function stack(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await promisify(execFile)(
      process.execPath,
      ['--conditions=source', 'scripts/stack.ts', ...args],
      { cwd: repoRoot, env: { ...process.env, DVT_STACK_DIR: stackDir }, timeout: 30_000 },
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
])('stack %j exits 2 and says why, starting nothing', async (args, message) => {
  const { code, stderr } = await stack(...args);
  expect(code).toBe(2);
  expect(stderr).toContain(message);
  expect(readdirSync(stackDir)).toEqual([]);
});
