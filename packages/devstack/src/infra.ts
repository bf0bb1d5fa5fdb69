/**
 * Launchers for the three infrastructure servers the stack and the tests use: a PostgreSQL
 * cluster, the Temporal dev server and MinIO. Each `ensure…` is idempotent: it reuses a
 * running instance it started before, and reports a port taken by anything else.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { isRoot, postgresBinDir, postgresDataDir, toolPath } from './paths.ts';
import {
  httpOk,
  portOpen,
  readManaged,
  startDetached,
  stopManaged,
  waitFor,
  type ManagedProcess,
} from './process.ts';

export class PortTakenError extends Error {
  constructor(what: string, port: number, variable: string) {
    super(
      `port ${port} (for ${what}) is already in use by a process this stack did not start; ` +
        `stop that process or choose another port with ${variable}`,
    );
    this.name = 'PortTakenError';
  }
}

/**
 * The instance this folder started before, if it still runs on `port`. One started on another
 * port (the port variable changed since) is stopped, so the caller starts a fresh one.
 */
async function runningOnPort(
  runDir: string,
  name: string,
  port: number,
): Promise<ManagedProcess | undefined> {
  const existing = readManaged(runDir, name);
  if (!existing) return undefined;
  if (new RegExp(`(^|[ :=])${port}( |$)`).test(existing.command)) return existing;
  await stopManaged(
    runDir,
    name,
    20_000,
    existing.command.includes('/postgres ') ? 'SIGINT' : 'SIGTERM',
  );
  return undefined;
}

export interface PostgresOptions {
  /** Instance name: its pid file, log and data folder are named after it. */
  name: string;
  port: number;
  runDir: string;
  /** Password of the `postgres` superuser (host connections use scram-sha-256). */
  superPassword: string;
  /** Env var a user sets to move the port, for the port-taken message. */
  portVariable?: string;
}

export interface RunningPostgres {
  port: number;
  adminUrl: string;
  process: ManagedProcess;
  started: boolean;
}

export async function ensurePostgres(options: PostgresOptions): Promise<RunningPostgres> {
  const adminUrl = `postgres://postgres:${encodeURIComponent(options.superPassword)}@127.0.0.1:${options.port}/postgres`;
  const existing = await runningOnPort(options.runDir, options.name, options.port);
  if (existing) {
    await waitFor(`postgres on ${options.port}`, () => canConnect(adminUrl), 30_000, existing);
    return { port: options.port, adminUrl, process: existing, started: false };
  }
  if (await portOpen(options.port))
    throw new PortTakenError('postgres', options.port, options.portVariable ?? 'the port setting');

  const bin = postgresBinDir();
  const dataDir = postgresDataDir(options.name);
  const user = isRoot() ? postgresUser() : undefined;
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pwfile = path.join(dataDir, '..', `${path.basename(dataDir)}.pw`);
    writeFileSync(pwfile, options.superPassword, { mode: 0o600 });
    if (user) {
      chownSync(dataDir, user.uid, user.gid);
      chownSync(pwfile, user.uid, user.gid);
    }
    const initdb = [
      path.join(bin, 'initdb'),
      '-D',
      dataDir,
      '-U',
      'postgres',
      `--pwfile=${pwfile}`,
      '--auth-host=scram-sha-256',
      '--auth-local=trust',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ];
    execFileSync(initdb[0]!, initdb.slice(1), { stdio: 'pipe', ...(user ?? {}) });
  }
  const proc = startDetached({
    name: options.name,
    command: path.join(bin, 'postgres'),
    args: [
      '-D',
      dataDir,
      '-p',
      String(options.port),
      '-h',
      '127.0.0.1',
      '-k',
      '',
      '-c',
      'max_connections=300',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
    ],
    runDir: options.runDir,
    ...(user ? { user } : {}),
  });
  await waitFor(`postgres on ${options.port}`, () => canConnect(adminUrl), 30_000, proc);
  return { port: options.port, adminUrl, process: proc, started: true };
}

/** As root, PostgreSQL runs as the `postgres` system user that the Debian package creates. */
function postgresUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** Stops a cluster started by {@link ensurePostgres} with a fast shutdown. */
export function stopPostgres(runDir: string, name: string): Promise<boolean> {
  return stopManaged(runDir, name, 20_000, 'SIGINT');
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Only `owner` (and superusers) may connect to `database`: other roles lose CONNECT. */
export async function restrictDatabase(
  adminUrl: string,
  database: string,
  owner: string,
): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(
      `revoke connect, temporary on database ${pg.escapeIdentifier(database)} from public`,
    );
    await client.query(
      `grant connect, temporary on database ${pg.escapeIdentifier(database)} to ${pg.escapeIdentifier(owner)}`,
    );
  } finally {
    await client.end();
  }
}

/** Creates a login role and a database it owns, if they do not exist. */
export async function ensureDatabase(
  adminUrl: string,
  database: string,
  owner?: { user: string; password: string },
): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    if (owner) {
      const role = await client.query('select 1 from pg_roles where rolname = $1', [owner.user]);
      if (role.rowCount === 0) {
        await client.query(
          `create role ${pg.escapeIdentifier(owner.user)} login password ${pg.escapeLiteral(owner.password)}`,
        );
      }
    }
    const db = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (db.rowCount === 0) {
      const ownerClause = owner ? ` owner ${pg.escapeIdentifier(owner.user)}` : '';
      await client.query(`create database ${pg.escapeIdentifier(database)}${ownerClause}`);
    } else if (owner) {
      // A stack created before the owner changed: hand the database over.
      await client.query(
        `alter database ${pg.escapeIdentifier(database)} owner to ${pg.escapeIdentifier(owner.user)}`,
      );
    }
  } finally {
    await client.end();
  }
}

export interface TemporalOptions {
  name: string;
  port: number;
  /** UI port, or undefined for a headless server. */
  uiPort?: number;
  runDir: string;
  /** SQLite file for persistence; in-memory when unset. */
  dbFile?: string;
  namespaces?: string[];
  portVariable?: string;
  /** HTTP API and metrics ports; `port + 10` and `port + 11` when unset (the stack's 7243/7244). */
  httpPort?: number;
  metricsPort?: number;
}

export async function ensureTemporal(
  options: TemporalOptions,
): Promise<{ address: string; process: ManagedProcess; started: boolean }> {
  const address = `127.0.0.1:${options.port}`;
  const existing = await runningOnPort(options.runDir, options.name, options.port);
  if (existing) {
    await waitFor(`temporal on ${options.port}`, () => portOpen(options.port), 60_000, existing);
    return { address, process: existing, started: false };
  }
  if (await portOpen(options.port))
    throw new PortTakenError('temporal', options.port, options.portVariable ?? 'the port setting');
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--log-level',
    'warn',
    '--log-format',
    'json',
  ];
  if (options.uiPort) args.push('--ui-port', String(options.uiPort), '--ui-ip', '127.0.0.1');
  else args.push('--headless');
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  for (const ns of options.namespaces ?? []) args.push('--namespace', ns);
  // The HTTP API port defaults to 7243 for every instance; give each its own.
  args.push(
    '--http-port',
    String(options.httpPort ?? options.port + 10),
    '--metrics-port',
    String(options.metricsPort ?? options.port + 11),
  );
  const proc = startDetached({
    name: options.name,
    command: toolPath('temporal'),
    args,
    runDir: options.runDir,
  });
  await waitFor(`temporal on ${options.port}`, () => temporalReady(options.port), 60_000, proc);
  if (options.uiPort) {
    await waitFor(
      `temporal UI on ${options.uiPort}`,
      () => httpOk(`http://127.0.0.1:${options.uiPort}/`),
      30_000,
      proc,
    );
  }
  return { address, process: proc, started: true };
}

async function temporalReady(port: number): Promise<boolean> {
  if (!(await portOpen(port))) return false;
  execFileSync(
    toolPath('temporal'),
    ['operator', 'cluster', 'health', '--address', `127.0.0.1:${port}`],
    { stdio: 'pipe', timeout: 5_000 },
  );
  return true;
}

export interface MinioOptions {
  name: string;
  port: number;
  consolePort: number;
  runDir: string;
  dataDir: string;
  accessKey: string;
  secretKey: string;
  portVariable?: string;
}

export async function ensureMinio(
  options: MinioOptions,
): Promise<{ endpoint: string; process: ManagedProcess; started: boolean }> {
  const endpoint = `http://127.0.0.1:${options.port}`;
  const ready = () => httpOk(`${endpoint}/minio/health/ready`);
  const existing = await runningOnPort(options.runDir, options.name, options.port);
  if (existing) {
    await waitFor(`minio on ${options.port}`, ready, 30_000, existing);
    return { endpoint, process: existing, started: false };
  }
  if (await portOpen(options.port))
    throw new PortTakenError('minio', options.port, options.portVariable ?? 'the port setting');
  mkdirSync(options.dataDir, { recursive: true });
  const proc = startDetached({
    name: options.name,
    command: toolPath('minio'),
    args: [
      'server',
      options.dataDir,
      '--address',
      `127.0.0.1:${options.port}`,
      '--console-address',
      `127.0.0.1:${options.consolePort}`,
      '--quiet',
    ],
    env: {
      ...process.env,
      MINIO_ROOT_USER: options.accessKey,
      MINIO_ROOT_PASSWORD: options.secretKey,
      MINIO_BROWSER_REDIRECT: 'off',
      MINIO_UPDATE: 'off',
      MINIO_CI_CD: '1',
    },
    runDir: options.runDir,
  });
  await waitFor(`minio on ${options.port}`, ready, 30_000, proc);
  return { endpoint, process: proc, started: true };
}

export { stopManaged };
