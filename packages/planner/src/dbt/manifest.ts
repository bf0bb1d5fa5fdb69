/**
 * Reads a dbt `manifest.json` (schema v4 to v12) into the few facts the importer uses.
 *
 * Leniency is deliberate: dbt adds fields without changing the version label, so only the
 * fields read here are validated (zod strips everything else, nothing unknown is rejected),
 * and small oddities of real manifests are normalised with a warning instead of an error:
 * `tags: null`, a string where `config.enabled` wants a boolean, duplicate entries in
 * `depends_on.nodes`, seeds without `depends_on.nodes`, Windows `\` paths. The graph maps
 * (`parent_map`, `child_map`) are not read at all; edges come from `depends_on.nodes`.
 */
import { ProblemError } from '@dvt/service-kit';
import { z } from 'zod';
import { pathSegments } from './patterns.ts';

export const SUPPORTED_SCHEMA_VERSIONS = [4, 5, 6, 7, 8, 9, 10, 11, 12] as const;

/** The manifest sections that hold graph members, and where each member came from. */
export const memberCollections = [
  'nodes',
  'sources',
  'exposures',
  'metrics',
  'semantic_models',
  'saved_queries',
  'unit_tests',
  'functions',
] as const;
export type MemberCollection = (typeof memberCollections)[number];

/** One enabled graph member, normalised. */
export interface DbtNode {
  uniqueId: string;
  collection: MemberCollection;
  resourceType: string;
  name: string;
  packageName: string;
  fqn: string[];
  tags: string[];
  /** `original_file_path` with `/` separators. */
  originalFilePath: string;
  pathSegments: string[];
  /** The YAML file that patches the node (`patch_path` without its `pkg://` prefix). */
  patchPathSegments: string[] | null;
  config: Record<string, unknown>;
  materialized: string | null;
  /** Parents from `depends_on.nodes`, deduplicated, in manifest order. */
  dependsOn: string[];
  versioned: boolean;
  /** A model's `version` and its group's `latest_version` (number or string, as in the manifest). */
  version: string | number | null;
  latestVersion: string | number | null;
  sourceName: string | null;
  access: string | null;
  /** `test_metadata.name` of a generic test; null for singular tests and everything else. */
  testMetadataName: string | null;
  /** The compiled SQL (`compiled_code` v7+, `compiled_sql` v4–v6); undefined when absent. */
  compiledSql: string | undefined;
  /** dbt leaves nodes whose raw SQL is blank out of every selection (seeds excepted). */
  empty: boolean;
  database: string | null;
  schema: string | null;
  alias: string | null;
  checksum: string | null;
}

export interface ParsedManifest {
  schemaVersion: number;
  dbtVersion: string | null;
  projectName: string | null;
  adapterType: string | null;
  invocationId: string | null;
  generatedAt: string | null;
  nodes: DbtNode[];
  /** Disabled entries: `config.enabled` false in a section, plus every key of `disabled`. */
  disabledIds: Set<string>;
  warnings: string[];
}

const optionalString = z.string().nullish();
const anyRecord = z.record(z.string(), z.unknown());

const MemberSchema = z.object({
  unique_id: z.string().min(1),
  resource_type: z.string().min(1),
  name: optionalString,
  package_name: optionalString,
  fqn: z.array(z.string()).nullish(),
  tags: z.union([z.array(z.string()), z.string()]).nullish(),
  original_file_path: optionalString,
  patch_path: optionalString,
  config: anyRecord.nullish(),
  depends_on: z.object({ nodes: z.array(z.string()).nullish() }).nullish(),
  compiled_code: optionalString,
  compiled_sql: optionalString,
  raw_code: optionalString,
  raw_sql: optionalString,
  database: optionalString,
  schema: optionalString,
  alias: optionalString,
  checksum: z.object({ name: z.string(), checksum: z.string() }).nullish(),
  test_metadata: z.object({ name: z.string() }).nullish(),
  version: z.union([z.string(), z.number()]).nullish(),
  latest_version: z.union([z.string(), z.number()]).nullish(),
  source_name: optionalString,
  access: optionalString,
});
type RawMember = z.infer<typeof MemberSchema>;

const TopSchema = z.object({
  metadata: z.object({
    dbt_schema_version: z.string({
      error: 'metadata.dbt_schema_version is missing; is this a dbt manifest.json?',
    }),
    dbt_version: optionalString,
    project_name: optionalString,
    adapter_type: optionalString,
    invocation_id: optionalString,
    generated_at: optionalString,
  }),
  nodes: z.record(z.string(), z.unknown()),
  sources: anyRecord.nullish(),
  exposures: anyRecord.nullish(),
  metrics: anyRecord.nullish(),
  semantic_models: anyRecord.nullish(),
  saved_queries: anyRecord.nullish(),
  unit_tests: anyRecord.nullish(),
  functions: anyRecord.nullish(),
  disabled: anyRecord.nullish(),
});

/** Reads `v12` from `https://schemas.getdbt.com/dbt/manifest/v12.json`. */
export function schemaVersionOf(label: string): number | null {
  const match = /\/manifest\/v(\d+)(?:\.json)?\/?$/.exec(label.trim());
  return match ? Number(match[1]) : null;
}

function invalid(detail: string, extensions: Record<string, unknown> = {}): ProblemError {
  return new ProblemError('MANIFEST_INVALID', detail, extensions);
}

function formatIssues(prefix: string, error: z.ZodError): string[] {
  return error.issues.slice(0, 10).map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    return `${path}: ${issue.message}`;
  });
}

function toObject(manifest: unknown): unknown {
  if (typeof manifest === 'string' || manifest instanceof Uint8Array) {
    const raw = typeof manifest === 'string' ? manifest : Buffer.from(manifest).toString('utf8');
    // A byte-order mark (some Windows editors and tools write one) is no part of the JSON.
    const text = raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ProblemError(
        'MANIFEST_INVALID',
        `The manifest is not valid JSON (${(err as Error).message}). Send the manifest.json that dbt wrote to target/.`,
        {},
        { cause: err },
      );
    }
  }
  return manifest;
}

/**
 * Interprets `config.enabled` like dbt would: booleans as they are; anything else is unusual
 * (one public manifest holds the string "True and True") and read as Python truthiness, with a
 * warning, except the strings "false", "0", "no", "off" and "", which mean disabled.
 */
function readEnabled(uniqueId: string, value: unknown, warnings: string[]): boolean {
  if (value === undefined || value === null || typeof value === 'boolean') return value !== false;
  const enabled =
    typeof value === 'string'
      ? !['false', '0', 'no', 'off', ''].includes(value.trim().toLowerCase())
      : Boolean(value);
  warnings.push(
    `${uniqueId}: config.enabled is ${JSON.stringify(value)}, not a boolean; treated as ${enabled ? 'enabled' : 'disabled'}`,
  );
  return enabled;
}

function dedupe(ids: readonly string[]): string[] {
  return ids.length < 2 ? [...ids] : [...new Set(ids)];
}

function normalise(collection: MemberCollection, raw: RawMember): DbtNode {
  const parts = raw.unique_id.split('.');
  const name = raw.name ?? parts[parts.length - 1] ?? raw.unique_id;
  const packageName = raw.package_name ?? parts[1] ?? '';
  const originalFilePath = (raw.original_file_path ?? '').replaceAll('\\', '/');
  const patch = raw.patch_path ? (raw.patch_path.split('://')[1] ?? raw.patch_path) : null;
  const config = raw.config ?? {};
  const tags = raw.tags == null ? [] : typeof raw.tags === 'string' ? [raw.tags] : raw.tags;
  const rawCode = raw.raw_code ?? raw.raw_sql;
  const compiled = raw.compiled_code ?? raw.compiled_sql;
  return {
    uniqueId: raw.unique_id,
    collection,
    resourceType: raw.resource_type,
    name,
    packageName,
    fqn: raw.fqn ?? [packageName, name],
    tags,
    originalFilePath,
    pathSegments: pathSegments(originalFilePath),
    patchPathSegments: patch ? pathSegments(patch) : null,
    config,
    // A materialization that is no string (a typo'd YAML value) stays visible as its JSON, so
    // it is reported as unsupported instead of quietly becoming the default view.
    materialized:
      config.materialized === undefined || config.materialized === null
        ? null
        : typeof config.materialized === 'string'
          ? config.materialized
          : JSON.stringify(config.materialized),
    dependsOn: dedupe(raw.depends_on?.nodes ?? []),
    versioned: raw.version !== undefined && raw.version !== null,
    version: raw.version ?? null,
    latestVersion: raw.latest_version ?? null,
    sourceName: raw.source_name ?? null,
    access: raw.access ?? null,
    testMetadataName: raw.test_metadata?.name ?? null,
    compiledSql: compiled ?? undefined,
    empty:
      collection === 'nodes' &&
      raw.resource_type !== 'seed' &&
      typeof rawCode === 'string' &&
      rawCode.trim() === '',
    database: raw.database ?? null,
    schema: raw.schema ?? null,
    alias: raw.alias ?? null,
    checksum: raw.checksum && raw.checksum.name === 'sha256' ? raw.checksum.checksum : null,
  };
}

/** Parses and normalises a manifest; throws MANIFEST_INVALID with the paths of what is wrong. */
export function parseManifest(input: unknown): ParsedManifest {
  const manifest = toObject(input);
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw invalid(
      `The manifest must be a JSON object (dbt's target/manifest.json), got ${manifest === null ? 'null' : Array.isArray(manifest) ? 'an array' : typeof manifest}.`,
    );
  }
  const top = TopSchema.safeParse(manifest);
  if (!top.success) {
    const issues = formatIssues('', top.error);
    throw invalid(`The manifest cannot be read: ${issues.join('; ')}.`, { issues });
  }
  const label = top.data.metadata.dbt_schema_version;
  const schemaVersion = schemaVersionOf(label);
  if (
    schemaVersion === null ||
    !(SUPPORTED_SCHEMA_VERSIONS as readonly number[]).includes(schemaVersion)
  ) {
    throw invalid(
      `The manifest's schema version ${JSON.stringify(label)} is not supported; DVT+ reads dbt manifests v4 to v12 (dbt-core 1.0 and later). Regenerate it with a supported dbt version.`,
      { dbtSchemaVersion: label },
    );
  }

  const warnings: string[] = [];
  const nodes: DbtNode[] = [];
  const disabledIds = new Set<string>(Object.keys(top.data.disabled ?? {}));
  const issues: string[] = [];
  for (const collection of memberCollections) {
    const section = top.data[collection];
    if (!section) continue;
    for (const [key, value] of Object.entries(section)) {
      const parsed = MemberSchema.safeParse(value);
      if (!parsed.success) {
        issues.push(...formatIssues(`${collection}[${JSON.stringify(key)}]`, parsed.error));
        if (issues.length >= 10) break;
        continue;
      }
      if (parsed.data.unique_id !== key) {
        issues.push(
          `${collection}[${JSON.stringify(key)}].unique_id: is ${JSON.stringify(parsed.data.unique_id)}, expected the key it is stored under`,
        );
        continue;
      }
      const enabled = readEnabled(key, parsed.data.config?.enabled, warnings);
      if (!enabled) {
        disabledIds.add(key);
        continue;
      }
      nodes.push(normalise(collection, parsed.data));
    }
    if (issues.length >= 10) break;
  }
  if (issues.length > 0) {
    throw invalid(`The manifest cannot be read: ${issues.slice(0, 10).join('; ')}.`, {
      issues: issues.slice(0, 10),
    });
  }

  const meta = top.data.metadata;
  return {
    schemaVersion,
    dbtVersion: meta.dbt_version ?? null,
    projectName: meta.project_name ?? null,
    adapterType: meta.adapter_type ?? null,
    invocationId: meta.invocation_id ?? null,
    generatedAt: meta.generated_at ?? null,
    nodes,
    disabledIds,
    warnings,
  };
}
