/**
 * Prebuilds the workflow bundle into dist/workflow-bundle.js (run by `pnpm build` after tsc), so
 * that a production worker loads it instead of bundling the workflow sources at start.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const workflowsPath = fileURLToPath(new URL('../dist/workflows/index.js', import.meta.url));
const target = new URL('../dist/workflow-bundle.js', import.meta.url);

const { code } = await bundleWorkflowCode({ workflowsPath, logger: undefined });
await writeFile(target, code);
process.stdout.write(`workflow bundle written: ${fileURLToPath(target)} (${code.length} bytes)\n`);
