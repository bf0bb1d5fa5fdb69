import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: three levels above this file (packages/packaging/src). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The shared fixtures folder: `DVT_FIXTURES_DIR` when set, else `../shared/fixtures` beside
 * the repository (where the steering repo lays it out for every session and for CI).
 */
export function fixturesDir(env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env.DVT_FIXTURES_DIR;
  return fromEnv ? path.resolve(fromEnv) : path.resolve(repoRoot, '..', 'shared', 'fixtures');
}

/** Files of the packaging this package checks, relative to the repository root. */
export const packagingFiles = {
  compose: 'docker-compose.yml',
  nodeDockerfile: 'docker/node-service.Dockerfile',
  minioDockerfile: 'docker/minio.Dockerfile',
  healthcheck: 'docker/node-healthcheck.mjs',
  dockerignore: '.dockerignore',
  envExample: '.env.example',
  spec: 'docs/ops/docker/DOCKER_COMPOSE_BACKEND_SPEC.v1.md',
  workflow: '.github/workflows/compose-smoke.yml',
  provision: 'scripts/provision.sh',
} as const;

export function repoPath(relative: string): string {
  return path.join(repoRoot, relative);
}
