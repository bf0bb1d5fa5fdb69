import { readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { generateSchemas, schemasDir } from '../scripts/write-schemas.ts';

const designPlan = {
  schemaVersion: 'dvt.plan/v1',
  planId: 'nightly-orders',
  planVersion: '1.4.0',
  concurrency: 8,
  failurePolicy: 'stop',
  defaults: { retry: { maxAttempts: 3, initialIntervalMs: 1000 }, timeoutMs: 600000 },
  steps: [
    {
      id: 'extract',
      kind: 'http',
      with: { method: 'POST', url: 'https://etl.example/run', expectStatus: 200 },
    },
    {
      id: 'load',
      kind: 'sql',
      needs: ['extract'],
      with: { target: 'warehouse', sql: 'call load_orders()' },
    },
    { id: 'sign-off', kind: 'approval', needs: ['load'], with: { timeoutMs: 3600000 } },
    { id: 'publish', kind: 'noop', needs: ['sign-off'], with: { delayMs: 10 } },
  ],
};

async function committed(file: string): Promise<string> {
  return readFile(new URL(file, schemasDir), 'utf8');
}

describe('published JSON Schemas', () => {
  it('equal what scripts/write-schemas.ts generates (run it after changing a schema)', async () => {
    const generated = await generateSchemas();
    expect(Object.keys(generated).sort()).toEqual([
      'engine-capabilities.schema.json',
      'execution-plan-v1.schema.json',
      'plan-v1.schema.json',
    ]);
    for (const [file, text] of Object.entries(generated)) {
      expect(await committed(file), file).toBe(text);
    }
  });

  it('accept the plan of DESIGN §4 and reject an unknown kind, as the zod schema does', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(await committed('plan-v1.schema.json')));
    expect(validate(designPlan)).toBe(true);
    const bad = structuredClone(designPlan);
    (bad.steps[3] as { kind: string }).kind = 'shell';
    expect(validate(bad)).toBe(false);
  });
});
