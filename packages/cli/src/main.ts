#!/usr/bin/env node
/**
 * The `dvt` executable. Arguments are parsed with node:util `parseArgs` (strict mode, no
 * dependency); see args.ts for the command table. This file is the only one that touches the
 * real process: argv, environment, terminal, Ctrl-C and the exit code.
 */
import { runCli } from './cli.ts';

const abort = new AbortController();
process.once('SIGINT', () => abort.abort());

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  isTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns ?? 80,
  env: process.env,
  signal: abort.signal,
});
process.exitCode = code;
