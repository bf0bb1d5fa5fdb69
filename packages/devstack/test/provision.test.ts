import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, toolsDir } from '../src/paths.ts';

function snapshot(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    out[name] = statSync(file).mtimeMs;
  }
  return out;
}

describe('scripts/provision.sh', () => {
  it('run again on a provisioned machine, finds everything and changes nothing', () => {
    const before = {
      bin: snapshot(path.join(toolsDir, 'bin')),
      node: statSync(path.join(toolsDir, 'node', 'bin', 'node')).mtimeMs,
    };
    const output = execFileSync('bash', ['scripts/provision.sh'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const lines = output.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[1])).toEqual([
      'node',
      'pnpm',
      'postgres',
      'temporal',
      'minio',
      'dbt',
      'workspace',
    ]);
    for (const line of lines) expect(line).toMatch(/already installed/);
    expect(snapshot(path.join(toolsDir, 'bin'))).toEqual(before.bin);
    expect(statSync(path.join(toolsDir, 'node', 'bin', 'node')).mtimeMs).toBe(before.node);
  });
});
