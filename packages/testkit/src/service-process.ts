/**
 * Runs a DVT+ service as a real child process from its TypeScript sources, the way the stack
 * runs it, so tests can watch its PID, its exit code and its log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '@dvt/devstack';

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
  healthz(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Polls /healthz until `predicate` holds, or throws with the last answer and the log. */
  waitForHealth(
    predicate: (status: number, body: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnService(
  name: 'api' | 'planner' | 'engine',
  env: Record<string, string>,
  port: number,
): ServiceProcess {
  const entry = path.join(repoRoot, 'packages', name, 'src', 'index.ts');
  const child = spawn(process.execPath, ['--conditions=source', entry], {
    cwd: path.join(repoRoot, 'packages', name),
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );

  const healthz = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(5_000),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  return {
    child,
    pid: child.pid!,
    port,
    output: () => out,
    exited,
    healthz,
    async waitForHealth(predicate, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let last: { status: number; body: Record<string, unknown> } | undefined;
      while (Date.now() < deadline) {
        last = await healthz().catch(() => undefined);
        if (last && predicate(last.status, last.body)) return last;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(
        `health condition not met; last answer ${JSON.stringify(last)}\n--- output ---\n${out.slice(-3000)}`,
      );
    },
    kill: (signal = 'SIGTERM') => child.kill(signal),
  };
}
