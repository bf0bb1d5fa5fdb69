/**
 * What `dvt plan` and `dvt run` are given: a dbt `manifest.json` (it has
 * `metadata.dbt_schema_version`) or a `dvt.plan/v1` plan (its `schemaVersion`), and the body
 * of POST /v1/projects/{projectId}/plans built from it.
 */
import { readFile } from 'node:fs/promises';
import {
  EXECUTION_PLAN_SCHEMA_VERSION,
  PLAN_SCHEMA_VERSION,
  indirectSelectionModes,
} from '@dvt/contracts';
import { UsageError } from './errors.ts';

export type PlanInput =
  | {
      kind: 'dbt';
      manifest: Record<string, unknown>;
      manifestVersion: string;
      projectName?: string;
    }
  | { kind: 'plan'; plan: Record<string, unknown>; planId?: string; planVersion?: string };

export interface PlanSelection {
  select: string[];
  exclude: string[];
  indirectSelection?: string;
  fullRefresh: boolean;
  preview: boolean;
  simulate: boolean;
}

export async function readPlanInput(file: string, command: string): Promise<PlanInput> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code;
    throw new UsageError(`cannot read ${file}: ${why}`, command, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `${file} is not JSON (${(error as Error).message}); give a dbt manifest.json or a dvt.plan/v1 plan`,
      command,
      { cause: error },
    );
  }
  return detectPlanInput(value, file, command);
}

/** Tells a dbt manifest from a dvt plan; anything else is a usage error saying what it saw. */
export function detectPlanInput(value: unknown, file: string, command = 'plan'): PlanInput {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(
      `${file} holds ${Array.isArray(value) ? 'an array' : typeof value}, not an object; give a dbt manifest.json or a dvt.plan/v1 plan`,
      command,
    );
  }
  const doc = value as Record<string, unknown>;
  const metadata = doc.metadata;
  if (typeof metadata === 'object' && metadata !== null) {
    const meta = metadata as Record<string, unknown>;
    if (typeof meta.dbt_schema_version === 'string') {
      const version =
        /\/(v\d+)\.json$/.exec(meta.dbt_schema_version)?.[1] ?? meta.dbt_schema_version;
      return {
        kind: 'dbt',
        manifest: doc,
        manifestVersion: version,
        ...(typeof meta.project_name === 'string' ? { projectName: meta.project_name } : {}),
      };
    }
  }
  if (doc.schemaVersion === PLAN_SCHEMA_VERSION) {
    return {
      kind: 'plan',
      plan: doc,
      ...(typeof doc.planId === 'string' ? { planId: doc.planId } : {}),
      ...(typeof doc.planVersion === 'string' ? { planVersion: doc.planVersion } : {}),
    };
  }
  if (doc.schemaVersion === EXECUTION_PLAN_SCHEMA_VERSION) {
    throw new UsageError(
      `${file} is a compiled execution plan (${EXECUTION_PLAN_SCHEMA_VERSION}); give the plan or manifest it came from, or run it with dvt run --plan-id ID --plan-version V`,
      command,
    );
  }
  const seen =
    doc.schemaVersion === undefined
      ? 'it has neither metadata.dbt_schema_version nor schemaVersion'
      : `its schemaVersion is ${JSON.stringify(doc.schemaVersion)}`;
  throw new UsageError(
    `${file} is neither a dbt manifest nor a ${PLAN_SCHEMA_VERSION} plan (${seen}); give a dbt target/manifest.json or a plan with "schemaVersion": "${PLAN_SCHEMA_VERSION}"`,
    command,
  );
}

const DBT_ONLY = [
  'select',
  'exclude',
  'indirectSelection',
  'fullRefresh',
  'preview',
  'simulate',
] as const;
const FLAG_OF: Record<(typeof DBT_ONLY)[number], string> = {
  select: '--select',
  exclude: '--exclude',
  indirectSelection: '--indirect-selection',
  fullRefresh: '--full-refresh',
  preview: '--preview',
  simulate: '--simulate',
};

/** The body of POST /v1/projects/{projectId}/plans. */
export function planRequestBody(
  input: PlanInput,
  selection: PlanSelection,
  command = 'plan',
): Record<string, unknown> {
  if (input.kind === 'plan') {
    const used = DBT_ONLY.filter((key) => {
      const value = selection[key];
      return Array.isArray(value) ? value.length > 0 : value === true || typeof value === 'string';
    });
    if (used.length > 0) {
      throw new UsageError(
        `${used.map((k) => FLAG_OF[k]).join(', ')} apply to dbt manifests only; a ${PLAN_SCHEMA_VERSION} plan runs as written`,
        command,
      );
    }
    return { plan: input.plan };
  }
  const mode = selection.indirectSelection;
  if (mode !== undefined && !(indirectSelectionModes as readonly string[]).includes(mode)) {
    throw new UsageError(
      `--indirect-selection takes ${indirectSelectionModes.join(', ')} (dbt's modes); got ${JSON.stringify(mode)}`,
      command,
    );
  }
  return {
    dbt: {
      manifest: input.manifest,
      ...(selection.select.length ? { select: selection.select } : {}),
      ...(selection.exclude.length ? { exclude: selection.exclude } : {}),
      ...(selection.indirectSelection !== undefined
        ? { indirectSelection: selection.indirectSelection }
        : {}),
      fullRefresh: selection.fullRefresh,
      preview: selection.preview,
      simulate: selection.simulate,
    },
  };
}
