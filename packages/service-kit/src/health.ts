/**
 * Readiness probes. Each dependency registers a probe; `check()` runs them all at once, each
 * bounded by its timeout, so `/healthz` answers quickly even when a dependency hangs.
 */
export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
  details?: Record<string, unknown>;
}

export interface HealthReport {
  status: 'ok' | 'unavailable';
  checks: Record<string, ProbeResult>;
}

/** A probe resolves (optionally with details) when healthy and throws when not. */
export type Probe = (signal: AbortSignal) => Promise<Record<string, unknown> | void>;

export class HealthRegistry {
  readonly #probes = new Map<string, Probe>();
  readonly #timeoutMs: number;

  constructor(options: { timeoutMs: number }) {
    this.#timeoutMs = options.timeoutMs;
  }

  register(name: string, probe: Probe): void {
    this.#probes.set(name, probe);
  }

  async check(): Promise<HealthReport> {
    const entries = await Promise.all(
      [...this.#probes].map(async ([name, probe]) => [name, await this.#run(probe)] as const),
    );
    const checks = Object.fromEntries(entries);
    const status = entries.every(([, r]) => r.ok) ? 'ok' : 'unavailable';
    return { status, checks };
  }

  async #run(probe: Probe): Promise<ProbeResult> {
    const started = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
    });
    try {
      const details = await Promise.race([probe(controller.signal), timeout]);
      return { ok: true, latencyMs: elapsed(started), ...(details ? { details } : {}) };
    } catch (error) {
      return { ok: false, latencyMs: elapsed(started), error: errorText(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/** A short, secret-free description of why a probe failed. */
export function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return errorText(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message || error.name;
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}
