/**
 * What every command gets: the terminal (injected, so tests capture output), the settings
 * resolved once from options and environment, and a lazily made API client.
 */
import { ApiClient } from './client.ts';
import { UsageError } from './errors.ts';
import {
  isLoopbackUrl,
  mintDevToken,
  parseRoles,
  STACK_DEV_JWT_SECRET,
  tokenDefaults,
} from './token.ts';

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Whether stdout is a terminal (progress is then redrawn in place). */
  isTTY: boolean;
  /** Terminal width in columns (80 when unknown). */
  columns: number;
  /** The process environment, read once here and nowhere else. */
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted when the user interrupts (Ctrl-C). */
  signal: AbortSignal;
  now?: () => number;
}

export const DEFAULT_API_URL = 'http://localhost:8080';
export const DEFAULT_PROJECT = 'default';

export type Values = Record<string, string | boolean | string[] | undefined>;

export class CliContext {
  readonly io: CliIo;
  readonly values: Values;
  readonly apiUrl: string;
  #client: ApiClient | undefined;

  constructor(io: CliIo, values: Values) {
    this.io = io;
    this.values = values;
    const api = this.string('api') ?? io.env.DVT_API_URL ?? DEFAULT_API_URL;
    try {
      const url = new URL(api);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new UsageError(
        `--api ${JSON.stringify(api)} is not an http:// or https:// URL (e.g. http://localhost:8080)`,
      );
    }
    this.apiUrl = api;
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === 'string' ? value : undefined;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  list(name: string): string[] {
    const value = this.values[name];
    return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  }

  get project(): string {
    return this.string('project') ?? this.io.env.DVT_PROJECT ?? DEFAULT_PROJECT;
  }

  out(line = ''): void {
    this.io.stdout.write(line + '\n');
  }

  err(line: string): void {
    this.io.stderr.write(line + '\n');
  }

  json(value: unknown): void {
    this.io.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** The client, with the token from --token, DVT_TOKEN, or a dev token minted here. */
  async client(): Promise<ApiClient> {
    this.#client ??= new ApiClient({ baseUrl: this.apiUrl, token: await this.#token() });
    return this.#client;
  }

  async #token(): Promise<string | undefined> {
    const given = this.string('token') ?? this.io.env.DVT_TOKEN;
    if (given) return given;
    const secret = devSecret(this.io.env, this.apiUrl);
    if (!secret) return undefined;
    const env = this.io.env;
    return mintDevToken({
      ...tokenDefaults,
      secret,
      tenant: env.DVT_TENANT ?? tokenDefaults.tenant,
      roles: env.DVT_ROLES ? parseRoles(env.DVT_ROLES) : [...tokenDefaults.roles],
      issuer: env.DVT_JWT_ISSUER ?? tokenDefaults.issuer,
      audience: env.DVT_JWT_AUDIENCE ?? tokenDefaults.audience,
      tenantClaim: env.DVT_TENANT_CLAIM ?? tokenDefaults.tenantClaim,
      rolesClaim: env.DVT_ROLES_CLAIM ?? tokenDefaults.rolesClaim,
      ttlSeconds: 3600,
      ...(this.io.now ? { now: this.io.now() } : {}),
    });
  }
}

/**
 * The secret for dev tokens: DVT_JWT_SECRET, else the native stack's dev secret — but only for
 * an api on this machine, so a dev token is never sent to another host by accident.
 */
export function devSecret(env: CliIo['env'], apiUrl: string): string | undefined {
  if (env.DVT_JWT_SECRET) return env.DVT_JWT_SECRET;
  return isLoopbackUrl(apiUrl) ? STACK_DEV_JWT_SECRET : undefined;
}
