import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  expandArgs,
  findStage,
  parseDockerfile,
  repoPath,
  resolveBaseImage,
  stageArgs,
  type ParsedDockerfile,
} from '@dvt/packaging';
import { envExample, minioDockerfile, nodeDockerfile, provisionPin, read } from './support.ts';

const node = nodeDockerfile();
const minio = minioDockerfile();
const env = envExample();

/** glibc bases: Debian/Ubuntu images and images built on them; never Alpine (musl). */
function isGlibcImage(image: string): boolean {
  if (/alpine|musl|distroless\/static/i.test(image)) return false;
  return /^(node|golang|debian|postgres):[^:]*(bookworm|trixie|bullseye)/.test(image);
}

const runs = (parsed: ParsedDockerfile, stage: string) =>
  findStage(parsed, stage).instructions.filter((i) => i.keyword === 'RUN');

describe('docker/node-service.Dockerfile', () => {
  it('is multi-stage: base, toolchain, build, runtime', () => {
    expect(node.stages.map((s) => s.name)).toEqual(['base', 'toolchain', 'build', 'runtime']);
    expect(node.stages.map((s) => s.from)).toEqual([
      'node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim',
      'base',
      'toolchain',
      'base',
    ]);
  });

  it('every FROM resolves to a glibc image, never Alpine (sdk-typescript #850)', () => {
    for (const stage of node.stages) {
      const image = resolveBaseImage(node, stage.name);
      expect(image, stage.name).toBe('node:24.22.3-bookworm-slim');
      expect(isGlibcImage(image), `${stage.name}: ${image}`).toBe(true);
    }
    for (const stage of minio.stages) {
      expect(isGlibcImage(resolveBaseImage(minio, stage.name)), stage.name).toBe(true);
    }
  });

  it('the glibc check rejects an Alpine base (the check can fail)', () => {
    const alpine = parseDockerfile('FROM node:24.22.3-alpine3.22 AS base\nFROM base AS runtime\n');
    expect(isGlibcImage(resolveBaseImage(alpine, 'runtime'))).toBe(false);
  });

  it('pins Node, Debian and pnpm to .env.example, provision.sh and packageManager', () => {
    expect(node.globalArgs.get('NODE_VERSION')).toBe(env.get('NODE_VERSION'));
    expect(node.globalArgs.get('NODE_VERSION')).toBe(provisionPin('NODE_VERSION'));
    expect(node.globalArgs.get('DEBIAN_RELEASE')).toBe(env.get('DEBIAN_RELEASE'));
    const pnpm = stageArgs(findStage(node, 'toolchain')).get('PNPM_VERSION');
    expect(pnpm).toBe(env.get('PNPM_VERSION'));
    expect(pnpm).toBe(provisionPin('PNPM_VERSION'));
    const packageManager = JSON.parse(read('package.json')).packageManager as string;
    expect(`pnpm@${pnpm}`).toBe(packageManager);
    expect(node.globalArgs.get('NODE_VERSION')).toMatch(/^24\.\d+\.\d+$/);
  });

  it('installs ca-certificates in the base every stage shares', () => {
    expect(runs(node, 'base').map((r) => r.args)).toEqual([
      'apt-get update  && apt-get install -y --no-install-recommends ca-certificates  && rm -rf /var/lib/apt/lists/*',
    ]);
  });

  it('installs pnpm with npm at the pinned version, not with corepack', () => {
    const text = read('docker/node-service.Dockerfile');
    expect(runs(node, 'toolchain')[0]!.args).toMatch(
      /^npm install --global .*"pnpm@\$\{PNPM_VERSION\}"/,
    );
    expect(text).not.toMatch(/corepack (enable|prepare|install)/);
  });

  it('builds the service chosen by ARG SERVICE_PATH with the frozen lockfile', () => {
    const build = findStage(node, 'build');
    expect(stageArgs(build).has('SERVICE_PATH')).toBe(true);
    expect(stageArgs(build).get('SERVICE_PATH')).toBeUndefined(); // no default: must be given
    const commands = runs(node, 'build').map((r) => r.args);
    expect(commands).toHaveLength(4);
    expect(commands[0]).toMatch(/\[ -z "\$\{SERVICE_PATH\}" \]/);
    expect(commands[1]).toBe('pnpm install --frozen-lockfile --prefer-offline');
    expect(commands[2]).toBe('pnpm --filter-prod "{./${SERVICE_PATH}}..." run build');
    expect(commands[3]).toBe(
      'pnpm --filter "./${SERVICE_PATH}" deploy --legacy --prod "${DEPLOY_DIR}"',
    );
    expect(runs(node, 'build')[1]!.flags).toEqual([
      '--mount=type=cache,id=dvt-pnpm-store,target=/root/.local/share/pnpm/store',
    ]);
    const copies = build.instructions.filter((i) => i.keyword === 'COPY');
    expect(copies.map((c) => c.args)).toEqual(['. .']);
  });

  it('the runtime stage holds only the deployed folder and the healthcheck script', () => {
    const runtime = findStage(node, 'runtime');
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY');
    expect(copies.map((c) => [c.flags, c.args])).toEqual([
      [['--from=build'], '${DEPLOY_DIR} /app'],
      [[], 'docker/node-healthcheck.mjs /usr/local/lib/dvt/healthcheck.mjs'],
    ]);
    expect(runtime.instructions.filter((i) => i.keyword === 'RUN')).toEqual([]);
    expect(stageArgs(runtime).get('DEPLOY_DIR')).toBe(
      stageArgs(findStage(node, 'build')).get('DEPLOY_DIR'),
    );
  });

  it('runs as a non-root user, exposes the service port and starts node directly', () => {
    const runtime = findStage(node, 'runtime');
    const last = (keyword: string) =>
      runtime.instructions.filter((i) => i.keyword === keyword).at(-1);
    expect(last('USER')?.args).toBe('1000:1000');
    expect(last('USER')?.args).not.toMatch(/^(0|root)(:|$)/);
    expect(last('EXPOSE')?.args).toBe('${SERVICE_PORT}');
    expect(stageArgs(runtime).get('SERVICE_PORT')).toBe('8080');
    expect(last('ENV')?.args).toMatch(/PORT=\$\{SERVICE_PORT\}/);
    expect(last('ENV')?.args).toMatch(/HOST=0\.0\.0\.0/);
    expect(last('CMD')?.args).toBe('["node", "dist/index.js"]');
    expect(runtime.instructions.some((i) => i.keyword === 'ENTRYPOINT')).toBe(false);
  });

  it('its healthcheck uses node, which the base image has, and a script the image copies', () => {
    const runtime = findStage(node, 'runtime');
    const healthcheck = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK');
    expect(healthcheck?.args).toBe('CMD ["node", "/usr/local/lib/dvt/healthcheck.mjs"]');
    // The node image's own binary; curl and wget are absent from slim images.
    expect(resolveBaseImage(node, 'runtime')).toMatch(/^node:.*-slim$/);
    const copied = runtime.instructions.find((i) =>
      i.args.endsWith('/usr/local/lib/dvt/healthcheck.mjs'),
    );
    expect(copied?.args.split(' ')[0]).toBe('docker/node-healthcheck.mjs');
    expect(readFileSync(repoPath('docker/node-healthcheck.mjs'), 'utf8')).toMatch(/\/healthz/);
  });

  it('carries no secrets: no secret-like ARG or ENV, no env file, no credentials', () => {
    for (const [name, parsed] of [
      ['node', node],
      ['minio', minio],
    ] as const) {
      for (const stage of parsed.stages) {
        for (const instruction of stage.instructions) {
          if (instruction.keyword === 'ARG' || instruction.keyword === 'ENV') {
            expect(instruction.args, `${name}/${stage.name}:${instruction.line}`).not.toMatch(
              /SECRET|PASSWORD|TOKEN|PRIVATE|ACCESS_KEY|CREDENTIAL/i,
            );
          }
          if (instruction.keyword === 'COPY' || instruction.keyword === 'ADD') {
            expect(instruction.args).not.toMatch(/\.env|\.npmrc|\.pem|id_rsa/);
          }
        }
      }
    }
    expect(read('docker/node-service.Dockerfile')).not.toMatch(/dev-only-|change-me/);
  });

  it('expandArgs names an ARG that has no value (bad input)', () => {
    expect(() => expandArgs('node:${NODE_MAJOR}', new Map())).toThrow(
      '${NODE_MAJOR} has no value (no ARG default)',
    );
    expect(() => parseDockerfile('RUN true\n')).toThrow(
      'line 1: RUN before the first FROM (only ARG may come first)',
    );
    expect(() => findStage(node, 'prod')).toThrow(
      'the Dockerfile has no stage named "prod" (stages: base, toolchain, build, runtime)',
    );
  });
});

describe('docker/minio.Dockerfile', () => {
  it('builds MinIO from source at the release provision.sh and .env.example pin', () => {
    const version = stageArgs(findStage(minio, 'build')).get('MINIO_VERSION');
    expect(version).toBe(provisionPin('MINIO_VERSION'));
    expect(version).toBe(env.get('MINIO_VERSION'));
    expect(minio.globalArgs.get('GO_VERSION')).toBe(env.get('GO_VERSION'));
    expect(runs(minio, 'build')[0]!.args).toMatch(
      /go install -trimpath -ldflags "-s -w" "github\.com\/minio\/minio@\$\{MINIO_VERSION\}"/,
    );
  });

  it('runs MinIO as a non-root user on a Debian slim base', () => {
    const runtime = findStage(minio, 'runtime');
    expect(resolveBaseImage(minio, 'runtime')).toBe('debian:bookworm-slim');
    expect(runtime.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args).toBe(
      '10001:10001',
    );
    expect(runtime.instructions.find((i) => i.keyword === 'COPY')?.args).toBe(
      '/go/bin/minio /usr/local/bin/minio',
    );
  });
});
