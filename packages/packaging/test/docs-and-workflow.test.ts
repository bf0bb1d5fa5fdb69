import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { isIgnored, packagingFiles, parseDockerignore, referencedVariables } from '@dvt/packaging';
import { envExample, loadStack, read } from './support.ts';

const spec = read(packagingFiles.spec);
const workflowText = read(packagingFiles.workflow);

interface WorkflowStep {
  name?: string;
  run?: string;
  uses?: string;
  if?: string;
}
const workflow = YAML.parse(workflowText) as {
  name: string;
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<
    string,
    {
      'runs-on': string;
      steps: WorkflowStep[];
      'timeout-minutes': number;
      env?: Record<string, string>;
    }
  >;
};
const steps = workflow.jobs.smoke!.steps;
const commands = steps.flatMap((s) =>
  (s.run ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean),
);

/** The fenced block under "The ci smoke … runs exactly these steps" in the spec. */
function specSmokeBlock(): string[] {
  const start = spec.indexOf('runs exactly these steps:');
  const block = /```\n([\s\S]*?)```/.exec(spec.slice(start));
  if (start === -1 || !block) throw new Error('the spec has no "runs exactly these steps" block');
  return block[1]!.trim().split('\n');
}

describe('.github/workflows/compose-smoke.yml', () => {
  it('parses, runs on a Docker-capable runner and reads the repository only', () => {
    expect(workflow.name).toBe('compose-smoke');
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push', 'workflow_dispatch']);
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(workflow.jobs.smoke!['runs-on']).toBe('ubuntu-24.04');
    expect(workflow.jobs.smoke!['timeout-minutes']).toBe(40);
    expect(workflow.jobs.smoke!.env).toEqual({ COMPOSE_PROFILES: 'ci' });
  });

  it('runs exactly the commands the spec lists, in the same order', () => {
    expect(commands).toEqual(specSmokeBlock());
  });

  it('builds and boots the ci profile, waits, probes /healthz, logs on failure, tears down always', () => {
    const step = (pattern: RegExp) => steps.find((s) => pattern.test(s.run ?? ''));
    expect(step(/^cp \.env\.example \.env$/)).toBeDefined();
    expect(step(/up -d --build --wait/)?.run).toBe(
      'docker compose --profile ci up -d --build --wait --wait-timeout 600',
    );
    expect(step(/curl/)?.run).toBe('curl -fsS http://localhost:8080/healthz');
    expect(step(/ logs /)?.if).toBe('failure()');
    expect(step(/down -v/)?.if).toBe('always()');
    expect(steps.at(-1)?.run).toBe('docker compose --profile ci down -v --remove-orphans');
  });

  it('every workflow command also appears in the spec commands table or block', () => {
    for (const command of commands) expect(spec, command).toContain(command);
  });
});

describe('docs/ops/docker/DOCKER_COMPOSE_BACKEND_SPEC.v1.md', () => {
  it('has every section the issue asks for', () => {
    const headings = [...spec.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual([
      'Topology',
      'Profiles',
      'Port matrix',
      'Variables',
      'Healthchecks',
      'Volumes',
      'Images',
      'Security notes',
      'Commands',
      'Path to Kubernetes',
      'Deliberate differences from the reference snippet',
      'What only a real Docker engine can confirm',
    ]);
  });

  it('lists the workflow commands: start dev, start ci, logs, stop, reset data', () => {
    for (const row of ['start dev', 'start ci', 'logs', 'stop (keep data)', 'reset data']) {
      expect(spec).toMatch(
        new RegExp(`^\\| ${row.replace(/[()]/g, '\\$&')}[^|]*\\| \`docker compose`, 'm'),
      );
    }
    const row = (what: string) =>
      new RegExp(`^\\| ${what}\\s+\\| (.+?)\\s+\\|$`, 'm').exec(spec)?.[1];
    expect(row('start dev')).toBe('`docker compose --profile dev up -d --build`');
    expect(row('start ci')).toBe(
      '`docker compose --profile ci up -d --build --wait --wait-timeout 600`',
    );
    expect(row('stop \\(keep data\\)')).toBe('`docker compose --profile dev down`');
    expect(row('reset data')).toBe('`docker compose --profile dev down -v --remove-orphans`');
  });

  it('names every variable the compose file reads, and every one is in .env.example', () => {
    const env = envExample();
    const used = referencedVariables(read(packagingFiles.compose));
    for (const name of used) {
      expect(env.has(name), `${name} is read by docker-compose.yml but not in .env.example`).toBe(
        true,
      );
      expect(spec, `${name} is not documented in the spec`).toContain(name);
    }
  });

  it("the port matrix matches the compose file's published ports", () => {
    const raw = loadRawServices();
    for (const [name, service] of Object.entries(raw)) {
      for (const port of service.ports ?? []) {
        // `${DVT_BIND_ADDRESS:-127.0.0.1}:8080:8080` is written `${DVT_BIND_ADDRESS}:8080`.
        const [host, published] = port
          .replace(/\$\{DVT_BIND_ADDRESS:-[^}]*\}/, '${DVT_BIND_ADDRESS}')
          .split(':');
        expect(spec, `${name}: ${port}`).toContain(`\`${host}:${published}\``);
      }
    }
  });

  it('explains every fact of the issue in the differences table', () => {
    const table = spec.slice(spec.indexOf('## Deliberate differences'));
    for (const fact of [
      'temporalio/auto-setup',
      'DB=postgres12',
      'BIND_ON_IP=0.0.0.0',
      'tctl',
      'TEMPORAL_ADDRESS=temporal:7233',
      'CVE-2025-62506',
      'glibc',
      'end-of-life',
      'ca-certificates',
      'corepack',
      '--legacy',
      'SIGTERM',
      'required: false',
      'latest',
    ]) {
      expect(table, fact).toContain(fact);
    }
  });
});

/** The services before interpolation, to see which host addresses are variable. */
function loadRawServices(): Record<string, { ports?: string[] }> {
  const doc = YAML.parse(read(packagingFiles.compose), { merge: true }) as {
    services: Record<string, { ports?: string[] }>;
  };
  return doc.services;
}

describe('.env.example and .dockerignore', () => {
  it('holds only obviously-dev secrets', () => {
    const env = envExample();
    expect(env.get('AUTH_JWT_SECRET')).toBe('dev-only-insecure-jwt-secret-change-me');
    expect(env.get('INTERNAL_API_TOKEN')).toBe('dev-only-internal-token-change-me');
    expect(env.get('NODE_ENV')).toBe('development');
    expect(env.get('COMPOSE_PROFILES')).toBe('dev');
    for (const key of [
      'POSTGRES_PASSWORD',
      'DVT_DB_PASSWORD',
      'TEMPORAL_DB_PASSWORD',
      'MINIO_ROOT_PASSWORD',
    ]) {
      expect(env.get(key), key).toMatch(/^dev-only-/);
    }
    expect(env.get('INTERNAL_API_TOKEN')!.length).toBeGreaterThanOrEqual(16);
  });

  it('is enough on its own: the compose file resolves with nothing else set', () => {
    expect(() => loadStack()).not.toThrow();
  });

  it('.env is git-ignored and .env.example is not', () => {
    const lines = read('.gitignore')
      .split('\n')
      .map((l) => l.trim());
    expect(lines).toContain('.env');
    expect(lines.some((l) => l === '.env*' || l === '.env.*' || l === '*.example')).toBe(false);
  });

  it('.dockerignore keeps the sources and the lockfile and drops the rest', () => {
    const rules = parseDockerignore(read(packagingFiles.dockerignore));
    const kept = [
      'pnpm-lock.yaml',
      'package.json',
      'pnpm-workspace.yaml',
      'packages/api/src/index.ts',
      'packages/store/migrations/0001_x.sql',
      'docker/node-healthcheck.mjs',
      'tsconfig.base.json',
    ];
    const dropped = [
      'node_modules/.modules.yaml',
      'packages/api/node_modules/x',
      '.git/HEAD',
      'packages/store/dist/index.js',
      'packages/store/test/x.test.ts',
      'coverage/index.html',
      '.tools/node/bin/node',
      '.stack/test/pg.log',
      '.env',
      '.env.local',
      'packages/x/.DS_Store',
      'docs/dev/conventions.md',
      '.test-results/a.json',
      'logs/a.log',
    ];
    for (const file of kept) expect(isIgnored(file, rules), file).toBe(false);
    for (const file of dropped) expect(isIgnored(file, rules), file).toBe(true);
  });
});
