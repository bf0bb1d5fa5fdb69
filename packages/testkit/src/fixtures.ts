/**
 * Where the shared fixtures live (real dbt manifests, the Compose schema): DVT_FIXTURES_DIR,
 * else `../shared/fixtures` beside the repository. Resolved from the repository root, never
 * from the working directory, and never a hard-coded absolute path (CI clones elsewhere).
 */
import path from 'node:path';
import { repoRoot } from '@dvt/devstack';

export const fixturesDir = process.env.DVT_FIXTURES_DIR
  ? path.resolve(repoRoot, process.env.DVT_FIXTURES_DIR)
  : path.resolve(repoRoot, '..', 'shared', 'fixtures');

/** A path under the fixtures folder, e.g. `fixturePath('dbt', 'jaffle-shop-duckdb-v8', 'manifest.json')`. */
export function fixturePath(...parts: string[]): string {
  return path.join(fixturesDir, ...parts);
}
