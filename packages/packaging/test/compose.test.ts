import { existsSync, readFileSync, statSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import {
  dependenciesOf,
  durationMs,
  healthcheckCommand,
  hostNamesOf,
  InterpolationError,
  loadCompose,
  packagingFiles,
  profilesOf,
  publishedPorts,
  repoPath,
  servicesOfProfile,
  volumeMounts,
  type ComposeService,
} from '@dvt/packaging';
import {
  composeSchemaPath,
  envExample,
  loadStack,
  logicalName,
  serviceIn,
  services,
  type Profile,
} from './support.ts';

const compose = loadStack();
const svc = (name: string): ComposeService => {
  const service = compose.services[name];
  if (!service) throw new Error(`docker-compose.yml has no service ${name}`);
  return service;
};
const profiles: Profile[] = ['dev', 'ci'];

/** Ajv for the Compose schema (draft-07; its `$schema` names the https form ajv does not know). */
function composeValidator() {
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(composeSchemaPath, 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormatsModule.default(ajv);
  return ajv.compile(schema);
}
const nodeServices = ['api', 'planner', 'engine'] as const;

describe('docker-compose.yml against the Compose Specification schema', () => {
  it('validates with .env.example interpolated', () => {
    const validate = composeValidator();
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('is rejected by the schema when a service has an unknown key (the check can fail)', () => {
    const validate = composeValidator();
    const broken = structuredClone(compose);
    (broken.services.api as Record<string, unknown>).healthcheckz = { test: ['CMD', 'true'] };
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.some((e) => e.params.additionalProperty === 'healthcheckz')).toBe(true);
  });

  it('fails without an env file value, naming the variable', () => {
    expect(() =>
      loadCompose({
        composePath: repoPath(packagingFiles.compose),
        envFilePath: repoPath(packagingFiles.envExample),
        overrides: { AUTH_JWT_SECRET: '' },
      }),
    ).toThrow(InterpolationError);
    expect(() => loadStack({ POSTGRES_VERSION: '' })).toThrow(
      /required variable POSTGRES_VERSION: POSTGRES_VERSION is not set/,
    );
  });
});

describe('project, network and profiles', () => {
  it('is the project dvt-backend on the one network dvt-backend', () => {
    expect(compose.name).toBe('dvt-backend');
    expect(Object.keys(compose.networks ?? {})).toEqual(['dvt-backend']);
    expect(compose.networks?.['dvt-backend']?.name).toBe('dvt-backend');
    for (const [name, service] of Object.entries(compose.services)) {
      const nets = Array.isArray(service.networks)
        ? service.networks
        : Object.keys(service.networks ?? {});
      expect(nets, name).toEqual(['dvt-backend']);
    }
  });

  it('has exactly the profiles dev and ci, and every service belongs to one of them', () => {
    expect(profilesOf(compose)).toEqual(['ci', 'dev']);
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.profiles?.length, name).toBe(1);
    }
  });

  it.each(profiles)('starts the spec services in the %s profile', (profile) => {
    expect(servicesOfProfile(compose, profile).sort()).toEqual([...services[profile]].sort());
  });

  it('ci is dev without temporal-ui and minio', () => {
    const ciLogical = services.ci.map(logicalName).sort();
    const devWithout = services.dev.filter((s) => s !== 'temporal-ui' && s !== 'minio').sort();
    expect(ciLogical).toEqual(devWithout);
  });

  it.each(profiles)('in %s, every service answers to its dev host name', (profile) => {
    const names = servicesOfProfile(compose, profile).flatMap((name) =>
      hostNamesOf(name, svc(name)),
    );
    for (const logical of ['postgres', 'temporal', 'planner', 'engine', 'api']) {
      expect(
        names.filter((n) => n === logical),
        `${profile}: ${logical}`,
      ).toHaveLength(1);
    }
  });

  it.each(profiles)('in %s, no service depends on a service outside the profile', (profile) => {
    const active = new Set(servicesOfProfile(compose, profile));
    for (const name of active) {
      for (const dependency of Object.keys(dependenciesOf(svc(name)))) {
        expect(active.has(dependency), `${name} -> ${dependency}`).toBe(true);
      }
      const deps = svc(name).depends_on;
      if (deps && !Array.isArray(deps)) {
        for (const [dep, spec] of Object.entries(deps)) {
          expect(spec.required, `${name} -> ${dep}: required:false is not relied on`).toBe(
            undefined,
          );
        }
      }
    }
  });
});

describe('published ports per profile', () => {
  const portsOf = (profile: Profile) =>
    Object.fromEntries(
      servicesOfProfile(compose, profile)
        .map((name) => [logicalName(name), publishedPorts(svc(name))] as const)
        .filter(([, ports]) => ports.length > 0)
        .map(([name, ports]) => [
          name,
          ports.map((p) => `${p.hostIp}:${p.published}->${p.target}`),
        ]),
    );

  it('dev publishes the api, the UI and MinIO, and debug ports on 127.0.0.1', () => {
    expect(portsOf('dev')).toEqual({
      postgres: ['127.0.0.1:5432->5432'],
      temporal: ['127.0.0.1:7233->7233'],
      'temporal-ui': ['127.0.0.1:8088->8080'],
      minio: ['127.0.0.1:9000->9000', '127.0.0.1:9001->9001'],
      planner: ['127.0.0.1:8081->8081'],
      engine: ['127.0.0.1:8082->8082'],
      api: ['127.0.0.1:8080->8080'],
    });
  });

  it('ci publishes only the api', () => {
    expect(portsOf('ci')).toEqual({ api: ['127.0.0.1:8080->8080'] });
  });

  it('debug ports stay on 127.0.0.1 when DVT_BIND_ADDRESS opens the public ones', () => {
    const open = loadStack({ DVT_BIND_ADDRESS: '0.0.0.0' });
    const hostIps = (name: string) => publishedPorts(open.services[name]!).map((p) => p.hostIp);
    expect(hostIps('api')).toEqual(['0.0.0.0']);
    for (const name of ['postgres', 'temporal', 'planner', 'engine']) {
      expect(hostIps(name), name).toEqual(['127.0.0.1']);
    }
  });
});

describe('healthchecks and start order', () => {
  it('postgres is probed with pg_isready over TCP', () => {
    for (const name of ['postgres', 'postgres-ci']) {
      expect(healthcheckCommand(svc(name))).toEqual([
        'CMD',
        'pg_isready',
        '-h',
        '127.0.0.1',
        '-p',
        '5432',
        '-U',
        'postgres',
        '-d',
        'postgres',
      ]);
    }
  });

  it('temporal is probed with a real frontend call that asks for the namespace (B16)', () => {
    for (const name of ['temporal', 'temporal-ci']) {
      const test = healthcheckCommand(svc(name));
      expect(test.slice(0, 2)).toEqual(['CMD', 'wget']);
      expect(test.at(-1)).toBe('http://127.0.0.1:7243/api/v1/namespaces/default');
    }
    const custom = loadStack({ TEMPORAL_NAMESPACE: 'dvt-test' });
    expect(healthcheckCommand(custom.services.temporal!).at(-1)).toBe(
      'http://127.0.0.1:7243/api/v1/namespaces/dvt-test',
    );
    expect(custom.services['temporal-namespace']!.environment?.NAMESPACE).toBe('dvt-test');
    expect(custom.services.engine!.environment?.TEMPORAL_NAMESPACE).toBe('dvt-test');
  });

  it('the Temporal server listens on 0.0.0.0 and runs the postgres12 plugin (B16)', () => {
    for (const name of ['temporal', 'temporal-ci']) {
      const env = svc(name).environment!;
      expect(env.BIND_ON_IP).toBe('0.0.0.0');
      expect(env.DB).toBe('postgres12');
      expect(env.POSTGRES_SEEDS).toBe('postgres');
      expect(svc(name).image).toBe('temporalio/server:1.30.1');
    }
  });

  it.each(nodeServices)('%s is probed from inside with node and GET /healthz', (name) => {
    for (const profile of profiles) {
      const service = svc(serviceIn(profile, name));
      expect(healthcheckCommand(service)).toEqual([
        'CMD',
        'node',
        '/usr/local/lib/dvt/healthcheck.mjs',
      ]);
      expect(durationMs(service.healthcheck!.start_period!)).toBeGreaterThanOrEqual(30_000);
    }
  });

  it('minio is probed on its readiness endpoint with a tool its image installs', () => {
    expect(healthcheckCommand(svc('minio'))).toEqual([
      'CMD',
      'curl',
      '-fsS',
      '-o',
      '/dev/null',
      'http://127.0.0.1:9000/minio/health/ready',
    ]);
    expect(readFileSync(repoPath(packagingFiles.minioDockerfile), 'utf8')).toMatch(
      /apt-get install -y --no-install-recommends ca-certificates curl/,
    );
  });

  it.each(profiles)('%s orders start-up by depends_on conditions', (profile) => {
    const deps = (logical: string) =>
      Object.fromEntries(
        Object.entries(dependenciesOf(svc(serviceIn(profile, logical)))).map(([d, c]) => [
          logicalName(d),
          c,
        ]),
      );
    expect(deps('db-setup')).toEqual({ postgres: 'service_healthy' });
    expect(deps('temporal-schema')).toEqual({ 'db-setup': 'service_completed_successfully' });
    expect(deps('temporal')).toEqual({ 'temporal-schema': 'service_completed_successfully' });
    expect(deps('temporal-namespace')).toEqual({ temporal: 'service_started' });
    expect(deps('planner')).toEqual({
      postgres: 'service_healthy',
      'db-setup': 'service_completed_successfully',
    });
    const temporalUsers = {
      postgres: 'service_healthy',
      'db-setup': 'service_completed_successfully',
      temporal: 'service_healthy',
      'temporal-namespace': 'service_completed_successfully',
      ...(profile === 'dev' ? { minio: 'service_healthy' } : {}),
    };
    expect(deps('engine')).toEqual(temporalUsers);
    expect(deps('api')).toEqual({
      ...temporalUsers,
      planner: 'service_healthy',
      engine: 'service_healthy',
    });
  });

  it.each(profiles)(
    'in %s, a long-running service adopts every one-shot job, so `up --wait` exits 0',
    (profile) => {
      // docker/compose#10596: `up --wait` fails on an exited container unless a running service
      // depends on it with service_completed_successfully.
      const active = servicesOfProfile(compose, profile);
      const oneShots = active.filter((name) => svc(name).restart === 'no');
      expect(oneShots.map(logicalName).sort()).toEqual([
        'db-setup',
        'temporal-namespace',
        'temporal-schema',
      ]);
      for (const job of oneShots) {
        const adopters = active.filter(
          (name) =>
            svc(name).restart !== 'no' &&
            dependenciesOf(svc(name))[job] === 'service_completed_successfully',
        );
        expect(
          adopters.length,
          `${profile}: nothing long-running waits for ${job}`,
        ).toBeGreaterThan(0);
      }
    },
  );

  it('the one-shot jobs do not restart', () => {
    for (const name of Object.keys(compose.services)) {
      if (/^(db-setup|temporal-schema|temporal-namespace)/.test(name)) {
        expect(svc(name).restart, name).toBe('no');
      }
    }
  });
});

describe('volumes and mounts', () => {
  it('uses named volumes only, each declared, and the declared ones are used', () => {
    const used = new Set<string>();
    for (const [name, service] of Object.entries(compose.services)) {
      for (const mount of volumeMounts(service)) {
        expect(mount.kind, `${name}: ${mount.target}`).not.toBe('anonymous');
        if (mount.kind === 'named') used.add(mount.source!);
      }
    }
    expect([...used].sort()).toEqual(['minio_data', 'pg_data', 'pg_data_ci']);
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual([...used].sort());
  });

  it('bind-mounts only existing files, read-only, never the repository or a folder', () => {
    const binds: string[] = [];
    for (const [name, service] of Object.entries(compose.services)) {
      for (const mount of volumeMounts(service).filter((m) => m.kind === 'bind')) {
        const file = repoPath(mount.source!);
        expect(existsSync(file), `${name} mounts ${mount.source}, which does not exist`).toBe(true);
        expect(statSync(file).isFile(), `${name} mounts the folder ${mount.source}`).toBe(true);
        expect(mount.readOnly, `${name}: ${mount.source} must be :ro`).toBe(true);
        binds.push(mount.source!);
      }
    }
    expect([...new Set(binds)].sort()).toEqual([
      './docker/postgres/setup.sh',
      './docker/temporal/create-namespace.sh',
      './docker/temporal/dynamicconfig.yaml',
      './docker/temporal/setup-schema.sh',
    ]);
  });

  it('every build context and Dockerfile exists', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (!service.build) continue;
      const dockerfile = `${service.build.context}/${service.build.dockerfile ?? 'Dockerfile'}`;
      expect(existsSync(repoPath(dockerfile)), `${name}: ${dockerfile}`).toBe(true);
    }
  });
});

describe('images', () => {
  // major.minor[.patch] with an optional suffix (17.7-bookworm), or a Go pseudo-version.
  const exactTag = /^[a-z0-9./-]+:(v?\d+\.\d+(\.\d+)?(-[\w.]+)?|v0\.0\.0-\d{14}-[0-9a-f]{12})$/;

  it('pins every image to an exact version, never latest', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.image, `${name} has no image`).toBeDefined();
      expect(service.image, name).toMatch(exactTag);
      expect(service.image, name).not.toMatch(/:latest$/);
    }
  });

  it('takes every version from .env.example', () => {
    const env = envExample();
    expect(svc('postgres').image).toBe(`postgres:${env.get('POSTGRES_VERSION')}`);
    expect(svc('temporal-ui').image).toBe(`temporalio/ui:${env.get('TEMPORAL_UI_VERSION')}`);
    expect(svc('temporal-schema').image).toBe(
      `temporalio/admin-tools:${env.get('TEMPORAL_ADMINTOOLS_VERSION')}`,
    );
    expect(svc('minio').image).toBe(`dvt-backend/minio:${env.get('MINIO_VERSION')}`);
    expect(svc('minio').build?.args).toEqual({
      GO_VERSION: env.get('GO_VERSION'),
      DEBIAN_RELEASE: env.get('DEBIAN_RELEASE'),
      MINIO_VERSION: env.get('MINIO_VERSION'),
    });
    for (const name of nodeServices) {
      for (const profile of profiles) {
        const service = svc(serviceIn(profile, name));
        expect(service.image).toBe(`dvt-backend/${name}:${env.get('DVT_IMAGE_TAG')}`);
        expect(service.build).toEqual({
          context: '.',
          dockerfile: 'docker/node-service.Dockerfile',
          args: {
            NODE_VERSION: env.get('NODE_VERSION'),
            DEBIAN_RELEASE: env.get('DEBIAN_RELEASE'),
            PNPM_VERSION: env.get('PNPM_VERSION'),
            SERVICE_PATH: `packages/${name}`,
            SERVICE_PORT: { api: '8080', planner: '8081', engine: '8082' }[name],
          },
        });
      }
    }
  });
});

describe('service variables (DESIGN §2)', () => {
  const common = [
    'NODE_ENV',
    'HOST',
    'LOG_LEVEL',
    'SHUTDOWN_GRACE_MS',
    'INTERNAL_API_TOKEN',
    'DATABASE_URL',
    'PORT',
  ];
  const temporal = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE'];
  const s3 = [
    'ARTIFACT_S3_ENDPOINT',
    'ARTIFACT_S3_ACCESS_KEY',
    'ARTIFACT_S3_SECRET_KEY',
    'ARTIFACT_S3_BUCKET',
    'ARTIFACT_S3_REGION',
  ];
  const api = [
    'PLANNER_URL',
    'ENGINE_URL',
    'AUTH_JWT_SECRET',
    'AUTH_JWKS_URL',
    'AUTH_ISSUER',
    'AUTH_AUDIENCE',
    'PUBLIC_BASE_URL',
  ];
  const keys = (name: string) => Object.keys(svc(name).environment ?? {}).sort();

  it('sets exactly the variables each service reads, per profile', () => {
    expect(keys('planner')).toEqual([...common].sort());
    expect(keys('planner-ci')).toEqual([...common].sort());
    expect(keys('engine')).toEqual(
      [...common, ...temporal, ...s3, 'WAREHOUSE_DATABASE_URL'].sort(),
    );
    expect(keys('engine-ci')).toEqual([...common, ...temporal, 'WAREHOUSE_DATABASE_URL'].sort());
    expect(keys('api')).toEqual([...common, ...temporal, ...s3, ...api, 'TEMPORAL_UI_URL'].sort());
    expect(keys('api-ci')).toEqual([...common, ...temporal, ...api].sort());
  });

  it('resolves the values the services need in containers', () => {
    const engine = svc('engine').environment!;
    expect(engine).toMatchObject({
      HOST: '0.0.0.0',
      PORT: '8082',
      NODE_ENV: 'development',
      DATABASE_URL: 'postgres://dvt:dev-only-dvt-password@postgres:5432/dvt',
      WAREHOUSE_DATABASE_URL:
        'postgres://dvt_warehouse:dev-only-warehouse-password@postgres:5432/warehouse',
      TEMPORAL_ADDRESS: 'temporal:7233',
      ARTIFACT_S3_ENDPOINT: 'http://minio:9000',
      SHUTDOWN_GRACE_MS: '10000',
    });
    expect(svc('api').environment).toMatchObject({
      PORT: '8080',
      PLANNER_URL: 'http://planner:8081',
      ENGINE_URL: 'http://engine:8082',
      AUTH_JWT_SECRET: 'dev-only-insecure-jwt-secret-change-me',
      INTERNAL_API_TOKEN: 'dev-only-internal-token-change-me',
      TEMPORAL_UI_URL: 'http://localhost:8088',
    });
    expect(svc('planner').environment?.PORT).toBe('8081');
  });

  // Addresses a browser on the host uses, not addresses between containers.
  const browserFacing = new Set(['PUBLIC_BASE_URL', 'TEMPORAL_UI_URL', 'TEMPORAL_CORS_ORIGINS']);

  it('no service refers to Temporal, Postgres or MinIO as localhost (B16)', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (browserFacing.has(key)) continue;
        expect(String(value), `${name}.${key}`).not.toMatch(/localhost|127\.0\.0\.1|::1/);
      }
    }
  });
});

describe('security (api, planner, engine)', () => {
  it.each(nodeServices)('%s runs read-only, tmpfs /tmp, no capabilities, with init', (name) => {
    for (const profile of profiles) {
      const service = svc(serviceIn(profile, name));
      expect(service.read_only).toBe(true);
      expect(service.tmpfs).toEqual(['/tmp']);
      expect(service.cap_drop).toEqual(['ALL']);
      expect(service.cap_add).toBeUndefined();
      expect(service.privileged).toBeUndefined();
      expect(service.security_opt).toEqual(['no-new-privileges:true']);
      expect(service.init).toBe(true);
      expect(service.user).toBeUndefined(); // the image's non-root USER applies
    }
  });

  it('gives a drain more time than SHUTDOWN_GRACE_MS before SIGKILL', () => {
    const grace = Number(envExample().get('SHUTDOWN_GRACE_MS'));
    for (const name of Object.keys(compose.services).filter((n) =>
      nodeServices.includes(logicalName(n) as (typeof nodeServices)[number]),
    )) {
      expect(durationMs(svc(name).stop_grace_period!), name).toBeGreaterThan(grace + 5_000);
    }
  });
});
