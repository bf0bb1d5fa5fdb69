import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.ts';
import { detectPlanInput, planRequestBody, readPlanInput } from '../src/input.ts';
import { dbtManifest, fixture } from './helpers.ts';

const noSelection = {
  select: [],
  exclude: [],
  fullRefresh: false,
  preview: false,
  simulate: false,
};

async function usageOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return (error as Error).message;
}

describe('plan input detection', () => {
  it.each([
    ['dbt-resto-v4', 'v4'],
    ['fivetran-jira-v5', 'v5'],
    ['jaffle-shop-duckdb-v8', 'v8'],
    ['dbt-core-state-v12', 'v12'],
  ])('reads the fixture %s as a dbt manifest %s', async (name, version) => {
    const input = await readPlanInput(dbtManifest(name), 'plan');
    expect(input.kind).toBe('dbt');
    expect(input.kind === 'dbt' && input.manifestVersion).toBe(version);
  });

  it('reads a dvt.plan/v1 file as a plan with its id and version', async () => {
    const input = await readPlanInput(fixture('nightly-plan.json'), 'plan');
    expect(input).toMatchObject({ kind: 'plan', planId: 'nightly-orders', planVersion: '1.4.0' });
  });

  it('explains a file that is neither', () => {
    expect(() => detectPlanInput({ steps: [] }, 'x.json')).toThrow(
      'x.json is neither a dbt manifest nor a dvt.plan/v1 plan (it has neither metadata.dbt_schema_version nor schemaVersion); give a dbt target/manifest.json or a plan with "schemaVersion": "dvt.plan/v1"',
    );
    expect(() => detectPlanInput({ schemaVersion: 'dvt.plan/v2' }, 'x.json')).toThrow(
      '(its schemaVersion is "dvt.plan/v2")',
    );
    expect(() => detectPlanInput([1, 2], 'x.json')).toThrow('x.json holds an array, not an object');
  });

  it('points a compiled execution plan at dvt run --plan-id', () => {
    expect(() => detectPlanInput({ schemaVersion: 'dvt.execution-plan/v1' }, 'out.json')).toThrow(
      'out.json is a compiled execution plan (dvt.execution-plan/v1); give the plan or manifest it came from, or run it with dvt run --plan-id ID --plan-version V',
    );
  });

  it('says when the file is missing or not JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dvt-input-'));
    expect(await usageOf(readPlanInput(join(dir, 'nope.json'), 'plan'))).toBe(
      `cannot read ${join(dir, 'nope.json')}: no such file`,
    );
    await writeFile(join(dir, 'broken.json'), '{"schemaVersion": ');
    expect(await usageOf(readPlanInput(join(dir, 'broken.json'), 'run'))).toMatch(
      /^.*broken\.json is not JSON \(.+\); give a dbt manifest\.json or a dvt\.plan\/v1 plan$/,
    );
    expect(await usageOf(readPlanInput(dir, 'plan'))).toBe(`cannot read ${dir}: it is a directory`);
  });
});

describe('plan request body', () => {
  const manifest = {
    metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json' },
    nodes: {},
  };

  it('sends a plan as { plan }', () => {
    const plan = { schemaVersion: 'dvt.plan/v1', planId: 'p', planVersion: '1', steps: [] };
    expect(planRequestBody(detectPlanInput(plan, 'p.json'), noSelection)).toEqual({ plan });
  });

  it('sends a manifest as { dbt } with the selection and flags', () => {
    const input = detectPlanInput(manifest, 'm.json');
    expect(
      planRequestBody(input, {
        ...noSelection,
        select: ['+orders'],
        exclude: ['tag:x'],
        preview: true,
      }),
    ).toEqual({
      dbt: {
        manifest,
        select: ['+orders'],
        exclude: ['tag:x'],
        fullRefresh: false,
        preview: true,
        simulate: false,
      },
    });
  });

  it('passes --indirect-selection on, and refuses a mode dbt does not have', () => {
    const input = detectPlanInput(manifest, 'm.json');
    expect(planRequestBody(input, { ...noSelection, indirectSelection: 'cautious' })).toEqual({
      dbt: {
        manifest,
        indirectSelection: 'cautious',
        fullRefresh: false,
        preview: false,
        simulate: false,
      },
    });
    expect(() => planRequestBody(input, { ...noSelection, indirectSelection: 'careful' })).toThrow(
      '--indirect-selection takes eager, cautious, buildable, empty (dbt\'s modes); got "careful"',
    );
    const plan = detectPlanInput(
      { schemaVersion: 'dvt.plan/v1', planId: 'p', planVersion: '1', steps: [] },
      'p.json',
    );
    expect(() => planRequestBody(plan, { ...noSelection, indirectSelection: 'empty' })).toThrow(
      '--indirect-selection apply to dbt manifests only',
    );
  });

  it('refuses dbt options for a plan file, naming each flag', () => {
    const plan = detectPlanInput(
      { schemaVersion: 'dvt.plan/v1', planId: 'p', planVersion: '1', steps: [] },
      'p.json',
    );
    expect(planRequestBody(detectPlanInput(manifest, 'm.json'), noSelection)).toEqual({
      dbt: { manifest, fullRefresh: false, preview: false, simulate: false },
    });
    expect(() =>
      planRequestBody(
        plan,
        { ...noSelection, exclude: ['a'], fullRefresh: true, simulate: true },
        'run',
      ),
    ).toThrow(
      '--exclude, --full-refresh, --simulate apply to dbt manifests only; a dvt.plan/v1 plan runs as written',
    );
  });
});
