/**
 * Image-equivalent smoke: the build stage of docker/node-service.Dockerfile replayed natively.
 * The build context is what `.dockerignore` lets through (`COPY . .`), every RUN of the build
 * stage runs in order with the same ARGs (only DEPLOY_DIR points into /tmp), and each service
 * then starts from its deployed folder alone — as the unprivileged user `nobody`, with the ci
 * profile's variables, against the test PostgreSQL and Temporal — and must answer /healthz 200.
 * That proves the runtime stage, which holds nothing but that folder, is self-contained.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { nodeBin, toolsBin } from '@dvt/devstack';
import {
  copyBuildContext,
  findStage,
  packagingFiles,
  parseDockerignore,
  repoPath,
  repoRoot,
  stageArgs,
} from '@dvt/packaging';
import { createTestDatabase, testTemporalAddress, type TestDatabase } from '@dvt/testkit';
import { loadStack, nodeDockerfile, read } from './support.ts';

const SERVICES = ['planner', 'engine', 'api'] as const;
type Service = (typeof SERVICES)[number];
const NOBODY = { uid: 65534, gid: 65534 };

interface StepResult {
  command: string;
  code: number | string | null;
  output: string;
}
interface Replay {
  deployDir: string;
  implemented: boolean;
  steps: StepResult[];
}

const buildStage = findStage(nodeDockerfile(), 'build');
const runCommands = buildStage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
const implemented = (service: Service) => existsSync(repoPath(`packages/${service}/src/index.ts`));

let workDir: string;
let contextDir: string;
const replays = new Map<Service, Replay>();
const processes: ChildProcess[] = [];
const databases: TestDatabase[] = [];

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

function runStep(command: string, env: Record<string, string>): StepResult {
  // RUN's shell form is `/bin/sh -c`, in WORKDIR.
  const result = spawnSync('/bin/sh', ['-c', command], {
    cwd: contextDir,
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const code = result.status ?? (result.signal ? `killed by ${result.signal}` : null);
  return { command, code, output: output.slice(-3000) };
}

beforeAll(() => {
  workDir = mkdtempSync('/tmp/dvt-image-eq-');
  chmodSync(workDir, 0o755);
  contextDir = path.join(workDir, 'repo');
  copyBuildContext(repoRoot, contextDir, parseDockerignore(read(packagingFiles.dockerignore)));
  const deployDefault = stageArgs(buildStage).get('DEPLOY_DIR');
  expect(deployDefault).toBe('/deploy');
  for (const service of SERVICES) {
    const deployDir = path.join(workDir, `deploy-${service}`);
    // The machine's own environment (registry certificates and the like) plus the build ARGs.
    const env = {
      ...stringEnv(process.env),
      PATH: `${toolsBin}:${path.dirname(nodeBin)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      SERVICE_PATH: `packages/${service}`,
      DEPLOY_DIR: deployDir,
    };
    const steps: StepResult[] = [];
    for (const command of runCommands) {
      // Until a service has sources, its build step is left out; everything else still runs.
      if (!implemented(service) && / run build$/.test(command)) continue;
      const step = runStep(command, env);
      steps.push(step);
      if (step.code !== 0) break;
    }
    if (existsSync(deployDir)) chmodSync(deployDir, 0o755);
    replays.set(service, { deployDir, implemented: implemented(service), steps });
  }
}, 600_000);

afterAll(async () => {
  for (const child of processes) if (child.exitCode === null) child.kill('SIGKILL');
  for (const db of databases) await db.drop().catch(() => undefined);
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const replay = (service: Service): Replay => replays.get(service)!;

function describeFailure(r: Replay): string {
  const failed = r.steps.find((s) => s.code !== 0);
  return failed ? `RUN ${failed.command} exited ${failed.code}:\n${failed.output}` : 'ok';
}

describe('image-equivalent smoke: the Dockerfile build stage replayed natively', () => {
  it('replays the four RUN commands of the build stage', () => {
    expect(runCommands.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual([
      'if [',
      'pnpm install',
      'pnpm --filter-prod',
      'pnpm --filter',
    ]);
  });

  it.each(SERVICES)('%s: every replayed RUN succeeds', (service) => {
    const r = replay(service);
    expect(describeFailure(r)).toBe('ok');
    expect(r.steps).toHaveLength(r.implemented ? 4 : 3);
  });

  it.each(SERVICES)(
    '%s: the deployed folder holds only metadata, dist and production deps',
    (service) => {
      const r = replay(service);
      // pnpm packs README and LICENSE files whatever `files` says: metadata, allowed.
      const entries = readdirSync(r.deployDir)
        .filter((e) => !/^(readme|license|licence)(\..*)?$/i.test(e))
        .sort();
      expect(entries).toEqual(
        r.implemented ? ['dist', 'node_modules', 'package.json'] : ['node_modules', 'package.json'],
      );
      if (r.implemented) expect(existsSync(path.join(r.deployDir, 'dist', 'index.js'))).toBe(true);
      const modules = (scope: string) =>
        readdirSync(path.join(r.deployDir, 'node_modules', scope)).sort();
      // Workspace dependencies are there, dev-only ones (testkit, devstack, vitest, tsc) are not.
      expect(modules('@dvt')).toEqual(['contracts', 'service-kit', 'store']);
      for (const dev of ['vitest', 'typescript', '@dvt/testkit', '@dvt/devstack']) {
        expect(existsSync(path.join(r.deployDir, 'node_modules', dev)), dev).toBe(false);
      }
      const store = path.join(r.deployDir, 'node_modules', '@dvt', 'store');
      expect(
        readdirSync(store)
          .filter((e) => e !== 'node_modules')
          .sort(),
      ).toEqual(
        existsSync(path.join(contextDir, 'packages/store/migrations')) &&
          readdirSync(path.join(contextDir, 'packages/store/migrations')).length > 0
          ? ['dist', 'migrations', 'package.json']
          : ['dist', 'package.json'],
      );
    },
  );

  it.each(SERVICES)('%s: every store migration is in the deployed folder', (service) => {
    const source = path.join(contextDir, 'packages/store/migrations');
    const wanted = existsSync(source)
      ? readdirSync(source)
          .filter((f) => f.endsWith('.sql'))
          .sort()
      : [];
    const deployed = path.join(replay(service).deployDir, 'node_modules/@dvt/store/migrations');
    expect(existsSync(deployed) ? readdirSync(deployed).sort() : []).toEqual(wanted);
  });

  it('engine: @temporalio/worker resolves and loads from the deployed folder as nobody (maildev #554)', () => {
    const r = replay('engine');
    const result = spawnSync(
      nodeBin,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@temporalio/worker'); console.log(typeof m.Worker, typeof m.NativeConnection)",
      ],
      { cwd: r.deployDir, env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8', ...NOBODY },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('function function\n');
  });

  it.skipIf(!implemented('engine'))(
    'engine: the deployed folder carries the prebuilt Temporal workflow bundle',
    () => {
      const bundle = path.join(replay('engine').deployDir, 'dist', 'workflow-bundle.js');
      expect(existsSync(bundle)).toBe(true);
      expect(statSync(bundle).size).toBeGreaterThan(10_000);
    },
  );

  it('without --legacy, pnpm 10 refuses to deploy from this workspace (why the Dockerfile says --legacy)', () => {
    const result = spawnSync(
      '/bin/sh',
      [
        '-c',
        `pnpm --filter ./packages/planner deploy --prod "${path.join(workDir, 'non-legacy')}"`,
      ],
      {
        cwd: contextDir,
        env: {
          ...stringEnv(process.env),
          PATH: `${toolsBin}:${path.dirname(nodeBin)}:${process.env.PATH}`,
        },
        encoding: 'utf8',
      },
    );
    expect(result.status).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain('ERR_PNPM_DEPLOY_NONINJECTED_WORKSPACE');
  });

  it.each(SERVICES)('%s: every deployed package is the version pnpm-lock.yaml pins', (service) => {
    const lock = YAML.parse(read('pnpm-lock.yaml')) as { packages?: Record<string, unknown> };
    const pinned = new Set(Object.keys(lock.packages ?? {}));
    const virtualStore = path.join(replay(service).deployDir, 'node_modules', '.pnpm');
    const deployed = readdirSync(virtualStore)
      .filter(
        (entry) =>
          entry.includes('@') &&
          !entry.startsWith('@dvt+') &&
          entry !== 'node_modules' &&
          !entry.startsWith('lock'),
      )
      .map(storeEntryToPackage);
    expect(deployed.length).toBeGreaterThan(10);
    expect(deployed.filter((pkg) => !pinned.has(pkg))).toEqual([]);
  });

  it('nothing above the deployed folders could lend them modules', () => {
    for (const dir of ['/tmp/node_modules', '/node_modules', path.join(workDir, 'node_modules')]) {
      expect(existsSync(dir), dir).toBe(false);
    }
    expect(replay('api').deployDir.startsWith(repoRoot)).toBe(false);
  });
});

/** `@scope+name@1.2.3_peer…` (a pnpm virtual-store folder) -> `@scope/name@1.2.3`. */
function storeEntryToPackage(entry: string): string {
  const scoped = entry.startsWith('@');
  const name = scoped ? entry.replace('+', '/') : entry;
  const at = name.indexOf('@', scoped ? 1 : 0);
  const version = name.slice(at + 1).split('_')[0]!;
  return `${name.slice(0, at)}@${version}`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForHealthz(
  url: string,
  child: ChildProcess,
  log: () => string,
): Promise<number> {
  const deadline = Date.now() + 60_000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the service exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return 200;
      last = `${response.status} ${(await response.text()).slice(0, 500)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`/healthz did not answer 200 within 60 s (last: ${last}):\n${log()}`);
}

describe('image-equivalent smoke: each service starts from its deployed folder alone', () => {
  const urls: Partial<Record<Service, string>> = {};
  const ci = loadStack().services;

  for (const service of SERVICES) {
    it.skipIf(!implemented(service))(
      `${service}: runs as nobody with the ci variables and /healthz answers 200, then drains on SIGTERM`,
      async () => {
        const r = replay(service);
        expect(describeFailure(r)).toBe('ok');
        const db = await createTestDatabase('pkg');
        databases.push(db);
        const port = await freePort();
        // The ci profile's variables, with container host names mapped to the test servers.
        const env: Record<string, string> = {};
        for (const [key, value] of Object.entries(ci[`${service}-ci`]!.environment ?? {})) {
          env[key] = String(value ?? '');
        }
        Object.assign(env, {
          HOST: '127.0.0.1',
          PORT: String(port),
          DATABASE_URL: db.url,
          PATH: '/usr/bin:/bin',
        });
        if (service !== 'planner') {
          env.TEMPORAL_ADDRESS = testTemporalAddress;
          env.TEMPORAL_TASK_QUEUE = `pkg-smoke-${randomBytes(4).toString('hex')}`;
        }
        if (service === 'engine') {
          const warehouse = await createTestDatabase('pkgwh');
          databases.push(warehouse);
          env.WAREHOUSE_DATABASE_URL = warehouse.url;
        }
        if (service === 'api') {
          env.PLANNER_URL = urls.planner ?? 'http://127.0.0.1:1';
          env.ENGINE_URL = urls.engine ?? 'http://127.0.0.1:1';
        }
        const child = spawn(nodeBin, ['dist/index.js'], { cwd: r.deployDir, env, ...NOBODY });
        processes.push(child);
        let output = '';
        child.stdout?.on(
          'data',
          (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)),
        );
        child.stderr?.on(
          'data',
          (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)),
        );
        const url = `http://127.0.0.1:${port}`;
        expect(await waitForHealthz(`${url}/healthz`, child, () => output)).toBe(200);
        urls[service] = url;

        if (service === 'api') {
          // SIGTERM drains every service and each exits 0 (what `docker stop` relies on).
          const exits = processes.map((p) =>
            p.exitCode !== null
              ? Promise.resolve(p.exitCode)
              : new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code))),
          );
          for (const p of processes) p.kill('SIGTERM');
          expect(await Promise.all(exits)).toEqual(processes.map(() => 0));
        }
      },
      120_000,
    );
  }
});
