/**
 * Loads docker-compose.yml the way Compose does before it validates: YAML with merge keys
 * (`<<`) and anchors resolved, then every string interpolated from an env file. The result is
 * what the Compose Specification schema and the spec assertions are checked against.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { parseEnvFile } from './env-file.ts';
import { interpolateDeep } from './interpolate.ts';

export interface ComposeHealthcheck {
  test?: string[] | string;
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  start_interval?: string;
  disable?: boolean;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: (string | { published?: string | number; target: number; host_ip?: string })[];
  volumes?: (string | { type?: string; source?: string; target: string })[];
  depends_on?: Record<string, { condition?: string; required?: boolean }> | string[];
  healthcheck?: ComposeHealthcheck;
  networks?: string[] | Record<string, { aliases?: string[] } | null>;
  entrypoint?: string[] | string;
  command?: string[] | string;
  read_only?: boolean;
  tmpfs?: string[] | string;
  cap_add?: string[];
  cap_drop?: string[];
  init?: boolean;
  user?: string;
  privileged?: boolean;
  restart?: string;
  stop_grace_period?: string;
  [key: string]: unknown;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  networks?: Record<string, { name?: string } | null>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Parses YAML text with Compose's YAML features (anchors, aliases, merge keys). */
export function parseComposeYaml(text: string): unknown {
  const doc = YAML.parseDocument(text, { merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new Error(`docker-compose.yml is not valid YAML: ${doc.errors[0]!.message}`);
  }
  return doc.toJS({ maxAliasCount: 1000 });
}

export interface LoadComposeOptions {
  composePath: string;
  /** The env file to interpolate from (the stack's contract: a copy of .env.example). */
  envFilePath: string;
  /** Values that win over the env file, like a shell environment does. */
  overrides?: Record<string, string>;
}

export function loadCompose(options: LoadComposeOptions): ComposeFile {
  const env = parseEnvFile(readFileSync(options.envFilePath, 'utf8'));
  for (const [key, value] of Object.entries(options.overrides ?? {})) env.set(key, value);
  const raw = parseComposeYaml(readFileSync(options.composePath, 'utf8'));
  const resolved = interpolateDeep(raw, (name) => env.get(name)) as Record<string, unknown>;
  // Top-level extension fields (x-…) have done their work once aliases are resolved.
  for (const key of Object.keys(resolved)) if (key.startsWith('x-')) delete resolved[key];
  return resolved as ComposeFile;
}

/** Services that `--profile <profile>` starts (services without profiles always start). */
export function servicesOfProfile(compose: ComposeFile, profile: string): string[] {
  return Object.entries(compose.services)
    .filter(([, service]) => !service.profiles || service.profiles.includes(profile))
    .map(([name]) => name);
}

/** Every profile named by any service. */
export function profilesOf(compose: ComposeFile): string[] {
  const all = new Set<string>();
  for (const service of Object.values(compose.services)) {
    for (const profile of service.profiles ?? []) all.add(profile);
  }
  return [...all].sort();
}

export function dependenciesOf(service: ComposeService): Record<string, string> {
  const deps = service.depends_on;
  if (!deps) return {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(
    Object.entries(deps).map(([name, d]) => [name, d.condition ?? 'service_started']),
  );
}

/** The host names a service answers to on its networks: its own name and its aliases. */
export function hostNamesOf(name: string, service: ComposeService): string[] {
  const names = [name];
  if (service.networks && !Array.isArray(service.networks)) {
    for (const net of Object.values(service.networks)) names.push(...(net?.aliases ?? []));
  }
  return names;
}

export interface PublishedPort {
  hostIp: string;
  published: number;
  target: number;
}

/** Parses the short and long port syntaxes into host ip, published and target port. */
export function publishedPorts(service: ComposeService): PublishedPort[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port !== 'string') {
      return {
        hostIp: port.host_ip ?? '0.0.0.0',
        published: Number(port.published),
        target: port.target,
      };
    }
    const parts = port.split(':');
    if (parts.length === 3) {
      return { hostIp: parts[0]!, published: Number(parts[1]), target: Number(parts[2]) };
    }
    if (parts.length === 2) {
      return { hostIp: '0.0.0.0', published: Number(parts[0]), target: Number(parts[1]) };
    }
    throw new Error(`port "${port}" has no published part; write HOST_IP:PUBLISHED:TARGET`);
  });
}

export interface VolumeMount {
  kind: 'named' | 'bind' | 'anonymous';
  source: string | undefined;
  target: string;
  readOnly: boolean;
}

export function volumeMounts(service: ComposeService): VolumeMount[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume !== 'string') {
      const kind = volume.type === 'bind' ? 'bind' : volume.source ? 'named' : 'anonymous';
      return { kind, source: volume.source, target: volume.target, readOnly: false };
    }
    const parts = volume.split(':');
    if (parts.length === 1) {
      return { kind: 'anonymous', source: undefined, target: parts[0]!, readOnly: false };
    }
    const source = parts[0]!;
    const kind = /^[./~]/.test(source) ? 'bind' : 'named';
    return {
      kind,
      source,
      target: parts[1]!,
      readOnly: parts[2]?.split(',').includes('ro') ?? false,
    };
  });
}

export function healthcheckCommand(service: ComposeService): string[] {
  const test = service.healthcheck?.test;
  if (test === undefined) return [];
  return typeof test === 'string' ? ['CMD-SHELL', test] : test;
}

/** Compose durations (`1m30s`, `500ms`, `10s`) in milliseconds. */
export function durationMs(value: string): number {
  const pattern = /(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g;
  const units: Record<string, number> = {
    h: 3_600_000,
    m: 60_000,
    s: 1000,
    ms: 1,
    us: 1e-3,
    ns: 1e-6,
  };
  let total = 0;
  let consumed = '';
  for (const match of value.matchAll(pattern)) {
    total += Number(match[1]) * units[match[2]!]!;
    consumed += match[0];
  }
  if (consumed !== value || consumed === '') {
    throw new Error(`"${value}" is not a Compose duration such as 30s, 1m30s or 500ms`);
  }
  return total;
}
