/**
 * Writes the published JSON Schema files in `packages/contracts/schemas/` from the zod
 * schemas. Run after changing a schema: `node packages/contracts/scripts/write-schemas.ts`;
 * `test/json-schemas.test.ts` fails while the committed files differ from what this produces.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import { z } from 'zod';
import { EngineCapabilities } from '../src/capabilities.ts';
import { ExecutionPlan, PlanV1 } from '../src/plan.ts';

export const schemasDir = new URL('../schemas/', import.meta.url);

const published = [
  {
    file: 'plan-v1.schema.json',
    title: 'DVT+ plan (dvt.plan/v1)',
    schema: PlanV1,
    // A plan as written: fields with defaults may be left out.
    io: 'input',
  },
  {
    file: 'execution-plan-v1.schema.json',
    title: 'DVT+ execution plan (dvt.execution-plan/v1)',
    schema: ExecutionPlan,
    io: 'output',
  },
  {
    file: 'engine-capabilities.schema.json',
    title: 'DVT+ engine capabilities (GET /internal/v1/capabilities)',
    schema: EngineCapabilities,
    io: 'output',
  },
] as const;

/** File name → the file's text, formatted as the repository's Prettier settings say. */
export async function generateSchemas(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of published) {
    const { $schema, ...body } = z.toJSONSchema(entry.schema, { io: entry.io });
    const document = {
      $schema,
      $id: `https://dvt.dev/schemas/${entry.file}`,
      title: entry.title,
      ...body,
    };
    const path = fileURLToPath(new URL(entry.file, schemasDir));
    const config = (await prettier.resolveConfig(path)) ?? {};
    files[entry.file] = await prettier.format(JSON.stringify(document), {
      ...config,
      filepath: path,
    });
  }
  return files;
}

if (import.meta.main) {
  for (const [file, text] of Object.entries(await generateSchemas())) {
    await writeFile(new URL(file, schemasDir), text);
    console.log(`wrote schemas/${file}`);
  }
}
