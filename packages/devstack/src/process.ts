/**
 * Starting and stopping background processes by pid file. The stack stops exactly what it
 * started: a pid file records the pid and the command, and `stop` checks both before killing.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface ManagedProcess {
  name: string;
  pid: number;
  command: string;
  logFile: string;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Folder holding `<name>.pid` and `<name>.log`. */
  runDir: string;
  /** Run with this uid/gid — used for PostgreSQL, which refuses to run as root. */
  user?: { uid: number; gid: number };
}

export function pidFile(runDir: string, name: string): string {
  return path.join(runDir, `${name}.pid`);
}

export function readManaged(runDir: string, name: string): ManagedProcess | undefined {
  const file = pidFile(runDir, name);
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as ManagedProcess;
    return isAlive(parsed.pid) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * A killed process whose parent has not reaped it yet still answers signal 0. The stack's
 * processes are detached, so their parent is init, which in a container may never reap
 * them: the state in /proc says whether it is gone (Linux only; elsewhere assume alive).
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state …; comm may hold spaces and parentheses, so read after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

export function startDetached(options: StartOptions): ManagedProcess {
  mkdirSync(options.runDir, { recursive: true });
  const logFile = path.join(options.runDir, `${options.name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(options.command, options.args, {
    ...(options.user ?? {}),
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  child.unref();
  if (child.pid === undefined)
    throw new Error(`could not start ${options.name} (${options.command})`);
  const managed: ManagedProcess = {
    name: options.name,
    pid: child.pid,
    command: [options.command, ...options.args].join(' '),
    logFile,
  };
  writeFileSync(pidFile(options.runDir, options.name), JSON.stringify(managed));
  return managed;
}

/**
 * Sends `signal` (SIGTERM by default; PostgreSQL wants SIGINT, its fast shutdown), then
 * SIGKILL after `timeoutMs`; removes the pid file.
 */
export async function stopManaged(
  runDir: string,
  name: string,
  timeoutMs = 15_000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<boolean> {
  const managed = readManaged(runDir, name);
  rmSync(pidFile(runDir, name), { force: true });
  if (!managed) return false;
  signalGroup(managed.pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (isAlive(managed.pid) && Date.now() < deadline) await delay(100);
  if (isAlive(managed.pid)) signalGroup(managed.pid, 'SIGKILL');
  return true;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  // Detached children lead their own process group; signal the group so helpers go too.
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The process being waited for: its log for the error, and its pid to notice it exit. */
export interface Watched {
  logFile?: string;
  pid?: number;
}

/** The process exited while it was being waited for; `log` holds the end of its log. */
export class ExitedBeforeReadyError extends Error {
  readonly log: string;

  constructor(what: string, log: string) {
    super(`${what} exited before it was ready${log}`);
    this.name = 'ExitedBeforeReadyError';
    this.log = log;
  }

  /** It could not bind a port (taken meanwhile by another process): worth a retry elsewhere. */
  get portClash(): boolean {
    return /address already in use|could not bind/i.test(this.log);
  }
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  watched: Watched = {},
  /** Says what the last check saw, for the error when it times out. */
  explain?: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (watched.pid !== undefined && !isAlive(watched.pid))
      throw new ExitedBeforeReadyError(what, logTail(watched.logFile));
    await delay(250);
  }
  const last = explain ? await explain().catch((error: unknown) => String(error)) : '';
  throw new Error(
    `${what} did not become ready within ${timeoutMs} ms${last ? `\nlast answer: ${last}` : ''}${logTail(watched.logFile)}`,
  );
}

/**
 * The end of a log, without the per-request lines: a service polled for readiness writes one
 * per poll, and they would push out the line that says what is wrong.
 */
function logTail(logFile: string | undefined, lines = 20): string {
  if (!logFile || !existsSync(logFile)) return '';
  const kept = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line && !line.includes('"msg":"request completed"'));
  return `\n--- last lines of ${logFile} (request logs left out) ---\n${kept.slice(-lines).join('\n')}`;
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return res.ok;
}

/** Status and body of a GET, for an error message. */
export async function httpAnswer(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return `${res.status} ${(await res.text()).slice(0, 2_000)}`;
}
