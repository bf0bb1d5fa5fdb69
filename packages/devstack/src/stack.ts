/**
 * The native stack: PostgreSQL, the Temporal dev server (with its UI), MinIO, and the api,
 * planner and engine — the same ports and variables as the Compose file, without Docker.
 * `up` is idempotent, `down` stops exactly the processes that `up` started (by pid file).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ensureDatabase,
  ensureMinio,
  ensurePostgres,
  ensureTemporal,
  PortTakenError,
  restrictDatabase,
  stopPostgres,
} from './infra.ts';
import { isRoot, nodeBin, portFromEnv, postgresDataDir, repoRoot, stackDir } from './paths.ts';
import {
  httpAnswer,
  httpOk,
  portOpen,
  readManaged,
  startDetached,
  stopManaged,
  waitFor,
} from './process.ts';

const env = process.env;

/** Ports and credentials of the native stack; each port can be moved with its variable. */
export const stackSettings = {
  postgresPort: portFromEnv('DVT_PG_PORT', 5432),
  postgresSuperPassword: 'postgres',
  dbUser: 'dvt',
  dbPassword: 'dvt',
  /**
   * The warehouse has a role of its own: sql and dbt steps run whatever a plan says, so they
   * must not run as the owner of the control-plane database.
   */
  warehouseUser: 'dvt_warehouse',
  warehousePassword: 'dvt_warehouse',
  temporalPort: portFromEnv('DVT_TEMPORAL_PORT', 7233),
  temporalUiPort: portFromEnv('DVT_TEMPORAL_UI_PORT', 8088),
  minioPort: portFromEnv('DVT_MINIO_PORT', 9000),
  minioConsolePort: portFromEnv('DVT_MINIO_CONSOLE_PORT', 9001),
  minioAccessKey: 'dvt-minio',
  minioSecretKey: 'dvt-minio-dev-secret',
  apiPort: portFromEnv('DVT_API_PORT', 8080),
  plannerPort: portFromEnv('DVT_PLANNER_PORT', 8081),
  enginePort: portFromEnv('DVT_ENGINE_PORT', 8082),
  internalToken: 'dev-only-internal-token-change-me',
  jwtSecret: 'dev-only-insecure-jwt-secret-change-me',
} as const;

const runDir = path.join(stackDir, 'run');
const s = stackSettings;

export const services = ['planner', 'engine', 'api'] as const;
export type ServiceName = (typeof services)[number];

export function serviceEnv(): Record<string, string> {
  const db = `postgres://${s.dbUser}:${s.dbPassword}@127.0.0.1:${s.postgresPort}`;
  return {
    NODE_ENV: 'development',
    LOG_LEVEL: env.LOG_LEVEL ?? 'info',
    HOST: '127.0.0.1',
    DATABASE_URL: `${db}/dvt`,
    WAREHOUSE_DATABASE_URL: `postgres://${s.warehouseUser}:${s.warehousePassword}@127.0.0.1:${s.postgresPort}/warehouse`,
    INTERNAL_API_TOKEN: s.internalToken,
    TEMPORAL_ADDRESS: `127.0.0.1:${s.temporalPort}`,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: 'dvt-runs',
    ARTIFACT_S3_ENDPOINT: `http://127.0.0.1:${s.minioPort}`,
    ARTIFACT_S3_ACCESS_KEY: s.minioAccessKey,
    ARTIFACT_S3_SECRET_KEY: s.minioSecretKey,
    ARTIFACT_S3_BUCKET: 'dvt-artifacts',
    ARTIFACT_S3_REGION: 'us-east-1',
    PLANNER_URL: `http://127.0.0.1:${s.plannerPort}`,
    ENGINE_URL: `http://127.0.0.1:${s.enginePort}`,
    AUTH_JWT_SECRET: s.jwtSecret,
    // Dev only: webhooks may go to a receiver on this machine (e.g. a local test server).
    WEBHOOK_ALLOWLIST: '127.0.0.1,::1,localhost',
    AUTH_ISSUER: 'dvt-dev',
    AUTH_AUDIENCE: 'dvt-api',
    TEMPORAL_UI_URL: `http://localhost:${s.temporalUiPort}`,
    PUBLIC_BASE_URL: `http://localhost:${s.apiPort}`,
  };
}

/**
 * Every port `up` would bind, checked before anything starts, so a conflict is reported at
 * once for all of them instead of after half the stack is up. Ports of processes this stack
 * already runs are fine. Temporal also binds its HTTP API and metrics on port+10 and port+11.
 */
async function checkPortsFree(infraOnly: boolean): Promise<void> {
  const wanted: [string, number, string][] = [
    ['postgres', s.postgresPort, 'DVT_PG_PORT'],
    ['temporal', s.temporalPort, 'DVT_TEMPORAL_PORT'],
    ['temporal', s.temporalPort + 10, 'DVT_TEMPORAL_PORT'],
    ['temporal', s.temporalPort + 11, 'DVT_TEMPORAL_PORT'],
    ['temporal', s.temporalUiPort, 'DVT_TEMPORAL_UI_PORT'],
    ['minio', s.minioPort, 'DVT_MINIO_PORT'],
    ['minio', s.minioConsolePort, 'DVT_MINIO_CONSOLE_PORT'],
    ...(infraOnly
      ? []
      : services.map(
          (n) => [n, servicePort(n), `DVT_${n.toUpperCase()}_PORT`] as [string, number, string],
        )),
  ];
  const taken: string[] = [];
  for (const [name, port, variable] of wanted) {
    if (readManaged(runDir, name)) continue;
    if (await portOpen(port))
      taken.push(
        `port ${port} (for ${name}) is already in use by a process this stack did not start; stop that process or choose another port with ${variable}`,
      );
  }
  if (taken.length > 0) throw new Error(taken.join('\n'));
}

function servicePort(name: ServiceName): number {
  return name === 'api' ? s.apiPort : name === 'planner' ? s.plannerPort : s.enginePort;
}

export async function stackUp(
  options: { infraOnly?: boolean; build?: boolean } = {},
): Promise<void> {
  await checkPortsFree(options.infraOnly ?? false);
  const pgInfo = await ensurePostgres({
    name: 'postgres',
    port: s.postgresPort,
    runDir,
    superPassword: s.postgresSuperPassword,
    portVariable: 'DVT_PG_PORT',
  });
  report('postgres', pgInfo.started, `127.0.0.1:${s.postgresPort}`);
  await ensureDatabase(pgInfo.adminUrl, 'dvt', { user: s.dbUser, password: s.dbPassword });
  await ensureDatabase(pgInfo.adminUrl, 'warehouse', {
    user: s.warehouseUser,
    password: s.warehousePassword,
  });
  await restrictDatabase(pgInfo.adminUrl, 'dvt', s.dbUser);

  const temporal = await ensureTemporal({
    name: 'temporal',
    port: s.temporalPort,
    uiPort: s.temporalUiPort,
    runDir,
    dbFile: path.join(stackDir, 'temporal', 'temporal.db'),
    namespaces: ['default'],
    portVariable: 'DVT_TEMPORAL_PORT',
  });
  report(
    'temporal',
    temporal.started,
    `${temporal.address} (UI http://localhost:${s.temporalUiPort})`,
  );

  const minio = await ensureMinio({
    name: 'minio',
    port: s.minioPort,
    consolePort: s.minioConsolePort,
    runDir,
    dataDir: path.join(stackDir, 'minio'),
    accessKey: s.minioAccessKey,
    secretKey: s.minioSecretKey,
    portVariable: 'DVT_MINIO_PORT',
  });
  report(
    'minio',
    minio.started,
    `${minio.endpoint} (console http://localhost:${s.minioConsolePort})`,
  );
  if (options.infraOnly) return;

  if (options.build !== false) {
    execFileSync('pnpm', ['run', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  }
  for (const name of services) await startService(name);
  for (const name of services) {
    const managed = readManaged(runDir, name);
    const url = `http://127.0.0.1:${servicePort(name)}/healthz`;
    await waitFor(
      `${name} /healthz`,
      () => httpOk(url),
      90_000,
      managed ?? {},
      () => httpAnswer(url),
    );
  }
  printUrls();
}

async function startService(name: ServiceName): Promise<void> {
  const port = servicePort(name);
  if (readManaged(runDir, name)) {
    report(name, false, `http://127.0.0.1:${port}`);
    return;
  }
  if (await portOpen(port)) throw new PortTakenError(name, port, `DVT_${name.toUpperCase()}_PORT`);
  const entry = path.join(repoRoot, 'packages', name, 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing; run: pnpm build`);
  const command = existsSync(nodeBin) ? nodeBin : process.execPath;
  const user = unprivilegedUser([command, entry]);
  startDetached({
    name,
    command,
    args: [entry],
    cwd: path.join(repoRoot, 'packages', name),
    env: { ...process.env, ...serviceEnv(), PORT: String(port), HOME: os.tmpdir() },
    runDir,
    ...(user ? { user } : {}),
  });
  report(name, true, `http://127.0.0.1:${port}${user ? ' (as nobody)' : ''}`);
}

/**
 * As root, the services run as `nobody`, as they do in their image — when that user can read
 * the checkout (a checkout under /root cannot be read by others; then they run as root and the
 * stack says so).
 */
function unprivilegedUser(files: string[]): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
    for (const file of files) execFileSync('test', ['-r', file], { uid, gid, stdio: 'ignore' });
    return { uid, gid };
  } catch {
    console.log('stack: the checkout is not readable by user nobody; services run as root');
    return undefined;
  }
}

function report(name: string, started: boolean, where: string): void {
  console.log(`stack: ${name.padEnd(9)} ${started ? 'started' : 'already running'}  ${where}`);
}

export function printUrls(): void {
  console.log(`
DVT+ native stack is up:
  api          http://localhost:${s.apiPort}   (docs http://localhost:${s.apiPort}/docs, health /healthz)
  planner      http://localhost:${s.plannerPort}
  engine       http://localhost:${s.enginePort}
  temporal UI  http://localhost:${s.temporalUiPort}
  minio        http://localhost:${s.minioPort}  (console http://localhost:${s.minioConsolePort}, ${s.minioAccessKey} / ${s.minioSecretKey})
  postgres     postgres://${s.dbUser}:${s.dbPassword}@127.0.0.1:${s.postgresPort}/dvt
  warehouse    postgres://${s.warehouseUser}:${s.warehousePassword}@127.0.0.1:${s.postgresPort}/warehouse
Logs: pnpm stack logs <name>   Stop: pnpm stack down`);
}

export async function stackDown(): Promise<void> {
  for (const name of [...services].reverse()) {
    console.log(
      `stack: ${name.padEnd(9)} ${(await stopManaged(runDir, name, 20_000)) ? 'stopped' : 'not running'}`,
    );
  }
  for (const name of ['minio', 'temporal']) {
    console.log(
      `stack: ${name.padEnd(9)} ${(await stopManaged(runDir, name, 20_000)) ? 'stopped' : 'not running'}`,
    );
  }
  console.log(
    `stack: ${'postgres'.padEnd(9)} ${(await stopPostgres(runDir, 'postgres')) ? 'stopped' : 'not running'}`,
  );
}

export async function stackStatus(): Promise<boolean> {
  let allUp = true;
  const rows: [string, number][] = [
    ['postgres', s.postgresPort],
    ['temporal', s.temporalPort],
    ['minio', s.minioPort],
    ...services.map((n) => [n, servicePort(n)] as [string, number]),
  ];
  for (const [name, port] of rows) {
    const managed = readManaged(runDir, name);
    let state = managed ? `running (pid ${managed.pid})` : 'stopped';
    if (managed && (services as readonly string[]).includes(name)) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
        signal: AbortSignal.timeout(3_000),
      }).catch(() => undefined);
      state += res ? `, /healthz ${res.status}` : ', /healthz not answering';
      if (res?.status !== 200) allUp = false;
    }
    if (!managed) allUp = false;
    console.log(`${name.padEnd(9)} :${String(port).padEnd(5)} ${state}`);
  }
  return allUp;
}

export function stackLogs(name: string | undefined, lines = 40): void {
  const names = name ? [name] : ['postgres', 'temporal', 'minio', ...services];
  for (const n of names) {
    const file = path.join(runDir, `${n}.log`);
    if (!existsSync(file)) {
      console.log(`== ${n}: no log at ${file}`);
      continue;
    }
    console.log(`== ${n} (${file})`);
    // The file ends with a newline: drop the empty piece after it before counting lines.
    const text = readFileSync(file, 'utf8').replace(/\n$/, '');
    console.log(text.split('\n').slice(-lines).join('\n'));
  }
}

/** Stops the stack and deletes its data: the PostgreSQL cluster, Temporal's db, MinIO's objects. */
export async function stackReset(): Promise<void> {
  await stackDown();
  for (const dir of [
    postgresDataDir('postgres'),
    `${postgresDataDir('postgres')}.pw`,
    path.join(stackDir, 'temporal'),
    path.join(stackDir, 'minio'),
    path.join(stackDir, 'dbt-shop'),
  ]) {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`stack: data removed (${stackDir}, ${postgresDataDir('postgres')})`);
}

export const stackRunDir = runDir;
