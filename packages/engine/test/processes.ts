/** Engine processes for tests that kill them: `node --conditions=source src/index.ts`. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '@dvt/devstack';
import { TOKEN, waitFor } from './helpers.ts';

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));

export interface EngineProcess {
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  healthz(): Promise<{ status: number; body: Record<string, unknown> }>;
  post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function spawnEngine(env: Record<string, string>): Promise<EngineProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--conditions=source', entry], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out = (out + chunk.toString()).slice(-20_000)));
  child.stderr!.on('data', (chunk: Buffer) => (out = (out + chunk.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  const call = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${url}${path}`, {
      ...init,
      headers: { 'x-internal-token': TOKEN, 'content-type': 'application/json', ...init?.headers },
      signal: AbortSignal.timeout(5_000),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const proc: EngineProcess = {
    child,
    port,
    url,
    output: () => out,
    healthz: () => call('/healthz'),
    post: (path, body) => call(path, { method: 'POST', body: JSON.stringify(body) }),
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
  await waitFor(
    async () => (await proc.healthz()).status > 0,
    30_000,
    'the engine process to listen',
  );
  return proc;
}

export async function waitReady(proc: EngineProcess, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => (await proc.healthz()).status === 200,
    timeoutMs,
    `engine ${proc.port} ready; output:\n${proc.output()}`,
    200,
  );
}
