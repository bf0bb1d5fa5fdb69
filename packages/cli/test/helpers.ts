/** Test helpers: a captured terminal for runCli, and fixture paths. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../src/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../../..');
export const fixture = (name: string) => resolve(here, 'fixtures', name);

/** The shared dbt fixtures (DVT_FIXTURES_DIR, else ../shared/fixtures beside the repo). */
export const sharedFixturesDir = process.env.DVT_FIXTURES_DIR
  ? resolve(repoRoot, process.env.DVT_FIXTURES_DIR)
  : resolve(repoRoot, '../shared/fixtures');
export const dbtManifest = (name: string) =>
  resolve(sharedFixturesDir, 'dbt', name, 'manifest.json');

export interface CapturedIo extends CliIo {
  stdoutText(): string;
  stderrText(): string;
  controller: AbortController;
}

export function captureIo(
  options: {
    env?: Record<string, string | undefined>;
    isTTY?: boolean;
    columns?: number;
    now?: () => number;
  } = {},
): CapturedIo {
  let out = '';
  let err = '';
  const controller = new AbortController();
  return {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    isTTY: options.isTTY ?? false,
    columns: options.columns ?? 100,
    env: options.env ?? {},
    signal: controller.signal,
    ...(options.now ? { now: options.now } : {}),
    controller,
    stdoutText: () => out,
    stderrText: () => err,
  };
}
