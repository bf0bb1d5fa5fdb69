import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: two levels above this package's src/ or dist/. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const toolsDir = path.join(repoRoot, '.tools');
export const toolsBin = path.join(toolsDir, 'bin');
/** Where the native stack keeps pid files, logs and data; DVT_STACK_DIR moves it (tests do). */
export const stackDir = process.env.DVT_STACK_DIR ?? path.join(repoRoot, '.stack');
export const nodeBin = path.join(toolsDir, 'node', 'bin', 'node');

/**
 * A port from the environment variable `name`, else `fallback`. A value that is not a whole
 * number from 1 to 65535 is refused with the variable named, before anything starts.
 */
export function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535 || !/^\d+$/.test(raw.trim())) {
    throw new Error(
      `${name}=${JSON.stringify(raw)} is not a port; give a whole number from 1 to 65535`,
    );
  }
  return port;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user; its
 * data folder then lives under the system temp dir, which that user can always reach (a
 * checkout under /root is not traversable by other users).
 */
export function postgresDataDir(name: string): string {
  if (!isRoot()) return path.join(stackDir, name, 'pgdata');
  const tag = createHash('sha256').update(stackDir).digest('hex').slice(0, 8);
  return path.join(tmpdir(), `dvt-${tag}-${name}-pgdata`);
}

/** The newest PostgreSQL server binaries installed by apt (or on PATH). */
export function postgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(path.join(base, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(base, versions[0], 'bin');
  }
  throw new Error(
    'PostgreSQL server binaries not found under /usr/lib/postgresql; run: bash scripts/provision.sh',
  );
}

export function toolPath(name: 'temporal' | 'minio'): string {
  const file = path.join(toolsBin, name);
  if (!existsSync(file)) {
    throw new Error(`${name} not found at ${file}; run: bash scripts/provision.sh`);
  }
  return file;
}
