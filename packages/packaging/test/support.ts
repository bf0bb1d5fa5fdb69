/** Shared loading for the packaging tests: the files under test, parsed once per file. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  fixturesDir,
  loadCompose,
  packagingFiles,
  parseDockerfile,
  parseEnvFile,
  repoPath,
  type ComposeFile,
} from '@dvt/packaging';

export const read = (relative: string): string => readFileSync(repoPath(relative), 'utf8');

export const composeSchemaPath = path.join(fixturesDir(), 'compose-spec', 'compose-spec.json');

/** The compose file as Compose sees it with a copy of .env.example as `.env`. */
export function loadStack(overrides?: Record<string, string>): ComposeFile {
  return loadCompose({
    composePath: repoPath(packagingFiles.compose),
    envFilePath: repoPath(packagingFiles.envExample),
    ...(overrides ? { overrides } : {}),
  });
}

export const envExample = (): Map<string, string> => parseEnvFile(read(packagingFiles.envExample));

export const nodeDockerfile = () => parseDockerfile(read(packagingFiles.nodeDockerfile));
export const minioDockerfile = () => parseDockerfile(read(packagingFiles.minioDockerfile));

/** A pinned value from scripts/provision.sh, e.g. NODE_VERSION. */
export function provisionPin(name: string): string {
  const match = new RegExp(`^${name}=(\\S+)`, 'm').exec(read(packagingFiles.provision));
  if (!match) throw new Error(`scripts/provision.sh does not pin ${name}`);
  return match[1]!;
}

/** The services of each profile and the logical name (dev name) of each ci copy. */
export const services = {
  dev: [
    'postgres',
    'db-setup',
    'temporal-schema',
    'temporal',
    'temporal-namespace',
    'temporal-ui',
    'minio',
    'planner',
    'engine',
    'api',
  ],
  ci: [
    'postgres-ci',
    'db-setup-ci',
    'temporal-schema-ci',
    'temporal-ci',
    'temporal-namespace-ci',
    'planner-ci',
    'engine-ci',
    'api-ci',
  ],
} as const;

export const logicalName = (service: string): string => service.replace(/-ci$/, '');

export type Profile = keyof typeof services;

/** The service of `profile` that plays `logical` (e.g. ci + api -> api-ci). */
export const serviceIn = (profile: Profile, logical: string): string =>
  profile === 'ci' ? `${logical}-ci` : logical;
