/**
 * The command line: a table of commands, each with its options and help text, parsed with
 * node:util `parseArgs` (strict: an unknown option or a missing value is a usage error).
 * Global options (`--api`, `--token`, `--help`) are accepted by every command, before or
 * after its name.
 */
import { parseArgs, type ParseArgsOptionDescriptor } from 'node:util';
import { UsageError } from './errors.ts';

export interface OptionDoc extends ParseArgsOptionDescriptor {
  description: string;
  /** Placeholder shown in help for a string option. */
  valueName?: string;
}

export type OptionTable = Record<string, OptionDoc>;

export interface CommandDoc {
  name: string;
  summary: string;
  /** Usage line after `dvt `. */
  usage: string;
  options: OptionTable;
  /** Positional arguments: at least `min`, at most `max`. */
  positionals: { min: number; max: number };
  /** Extra help paragraphs. */
  notes?: string[];
}

export const globalOptions: OptionTable = {
  api: {
    type: 'string',
    valueName: 'URL',
    description: 'base URL of the api (env DVT_API_URL; default http://localhost:8080)',
  },
  token: {
    type: 'string',
    valueName: 'TOKEN',
    description: 'bearer token: a JWT or an API key (env DVT_TOKEN; see dvt token --help)',
  },
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
};

const json: OptionDoc = { type: 'boolean', description: 'print the api’s answer as raw JSON' };
const project: OptionDoc = {
  type: 'string',
  valueName: 'P',
  description: 'project id (env DVT_PROJECT; default "default")',
};

const planOptions: OptionTable = {
  select: {
    type: 'string',
    multiple: true,
    valueName: 'SELECTOR',
    description: 'dbt node selection (repeatable; e.g. +orders, tag:nightly)',
  },
  exclude: {
    type: 'string',
    multiple: true,
    valueName: 'SELECTOR',
    description: 'dbt nodes to leave out (repeatable)',
  },
  'indirect-selection': {
    type: 'string',
    valueName: 'MODE',
    description:
      'dbt: tests that come with the selection: eager (default), cautious, buildable, empty',
  },
  project,
  'full-refresh': { type: 'boolean', description: 'dbt: rebuild incremental models from scratch' },
  preview: { type: 'boolean', description: 'dbt: accept a manifest that was never compiled' },
  simulate: {
    type: 'boolean',
    description: 'dbt: run the dbt steps as noop (for manifests without a warehouse)',
  },
};

const runIdArg = { min: 1, max: 1 };
const signalOptions: OptionTable = {
  step: { type: 'string', valueName: 'STEP', description: 'the step the signal is about' },
  reason: { type: 'string', valueName: 'TEXT', description: 'why (recorded with the signal)' },
  'signal-id': {
    type: 'string',
    valueName: 'ID',
    description: 'idempotency id of the signal (default: a random UUID)',
  },
  json,
};

export const signalCommands = {
  cancel: { type: 'CANCEL', summary: 'cancel a run (running steps are cancelled)', step: 'no' },
  pause: { type: 'PAUSE', summary: 'pause a run (no new steps start)', step: 'no' },
  resume: { type: 'RESUME', summary: 'resume a paused run', step: 'no' },
  approve: { type: 'APPROVE', summary: 'grant a pending approval', step: 'optional' },
  'retry-step': { type: 'RETRY_STEP', summary: 'run a failed step again', step: 'required' },
  'skip-step': { type: 'SKIP_STEP', summary: 'skip a pending step', step: 'required' },
  'retry-run': { type: 'RETRY_RUN', summary: 'start a new run of the same plan', step: 'no' },
} as const;
export type SignalCommand = keyof typeof signalCommands;

export const commands: Record<string, CommandDoc> = {
  plan: {
    name: 'plan',
    summary: 'compile a dbt manifest or a dvt.plan/v1 plan and show the ordered plan',
    usage: 'plan <manifest.json|plan.json> [options]',
    options: {
      ...planOptions,
      graph: {
        type: 'string',
        valueName: 'FILE',
        description: 'write the plan’s DAG to FILE: .svg (picture) or .mmd (Mermaid)',
      },
      json,
    },
    positionals: { min: 1, max: 1 },
    notes: [
      'The file is a dbt manifest when it has metadata.dbt_schema_version, a plan when its schemaVersion is dvt.plan/v1. The project is created when missing.',
    ],
  },
  run: {
    name: 'run',
    summary: 'submit a plan and start a run; --watch follows it live',
    usage:
      'run <manifest.json|plan.json> [options]   |   run --plan-id ID --plan-version V [options]',
    options: {
      ...planOptions,
      environment: {
        type: 'string',
        valueName: 'ENV',
        description: 'environment to run in (default dev)',
      },
      watch: {
        type: 'boolean',
        short: 'w',
        description: 'follow the run: progress, running steps, failures',
      },
      poll: { type: 'boolean', description: 'with --watch: poll for events instead of streaming' },
      'plan-id': {
        type: 'string',
        valueName: 'ID',
        description: 'without a file: run this submitted plan (with --plan-version)',
      },
      'plan-version': {
        type: 'string',
        valueName: 'V',
        description: 'without a file: the version of --plan-id to run',
      },
      'idempotency-key': {
        type: 'string',
        valueName: 'KEY',
        description: 'Idempotency-Key of the start request (default: random per invocation)',
      },
      json,
    },
    positionals: { min: 0, max: 1 },
    notes: [
      'With --watch the exit code is 0 when the run ends COMPLETED and 1 when it ends FAILED or CANCELLED.',
    ],
  },
  runs: {
    name: 'runs',
    summary: 'list the runs of a project',
    usage: 'runs [--project P] [--status S] [--limit N] [--cursor C]',
    options: {
      project,
      status: {
        type: 'string',
        valueName: 'S',
        description: 'QUEUED, RUNNING, PAUSED, COMPLETED, FAILED or CANCELLED',
      },
      limit: { type: 'string', valueName: 'N', description: 'page size, 1..500 (default 20)' },
      cursor: { type: 'string', valueName: 'C', description: 'the next page’s cursor' },
      json,
    },
    positionals: { min: 0, max: 0 },
  },
  status: {
    name: 'status',
    summary: 'show a run and the state of each step',
    usage: 'status <runId> [--json]',
    options: { json },
    positionals: runIdArg,
  },
  events: {
    name: 'events',
    summary: 'print a run’s events; --follow waits for new ones until the run ends',
    usage: 'events <runId> [--after-seq N] [--limit N] [--follow] [--json]',
    options: {
      'after-seq': {
        type: 'string',
        valueName: 'N',
        description: 'only events after this runSeq (default 0)',
      },
      limit: {
        type: 'string',
        valueName: 'N',
        description: 'without --follow: at most N events (default 100)',
      },
      follow: { type: 'boolean', short: 'f', description: 'stream new events until the run ends' },
      poll: { type: 'boolean', description: 'with --follow: poll instead of streaming' },
      json: { type: 'boolean', description: 'print each event as a JSON line' },
    },
    positionals: runIdArg,
  },
  token: {
    name: 'token',
    summary: 'print a development token (HS256 JWT signed with the dev secret)',
    usage: 'token [--tenant T] [--roles admin,operator:proj] [--sub S] [--ttl 1h]',
    options: {
      tenant: { type: 'string', valueName: 'T', description: 'tenant id (default dev)' },
      roles: {
        type: 'string',
        valueName: 'LIST',
        description: 'comma-separated role or role:projectId (default admin)',
      },
      sub: { type: 'string', valueName: 'S', description: 'subject (default dvt-cli)' },
      ttl: {
        type: 'string',
        valueName: 'DUR',
        description: 'lifetime: 90s, 30m, 1h, 7d (default 1h)',
      },
      issuer: { type: 'string', valueName: 'ISS', description: 'iss claim (default dvt-dev)' },
      audience: { type: 'string', valueName: 'AUD', description: 'aud claim (default dvt-api)' },
      'tenant-claim': {
        type: 'string',
        valueName: 'NAME',
        description: 'name of the tenant claim (default tenant)',
      },
      'roles-claim': {
        type: 'string',
        valueName: 'NAME',
        description: 'name of the roles claim (default roles)',
      },
    },
    positionals: { min: 0, max: 0 },
    notes: [
      'The secret is DVT_JWT_SECRET, else the native stack’s dev secret (the AUTH_JWT_SECRET of .env.example). Never use dev tokens against a production api.',
    ],
  },
};

for (const [name, spec] of Object.entries(signalCommands)) {
  const step =
    spec.step === 'required' ? ' --step S' : spec.step === 'optional' ? ' [--step S]' : '';
  commands[name] = {
    name,
    summary: spec.summary,
    usage: `${name} <runId>${step} [--reason R] [--signal-id ID]`,
    options: signalOptions,
    positionals: runIdArg,
  };
}

export interface ParsedCommand {
  command: string;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** `undefined` command with `help` set: top-level help. */
export type ParsedArgs = ParsedCommand | { command: undefined; help: true };

export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  // First pass, loose, knowing every option of every command: finds the command name (the
  // first positional), skipping option values such as `--api URL` or `--project P`.
  const allOptions = Object.assign(
    {},
    globalOptions,
    ...Object.values(commands).map((c) => c.options),
  );
  const globals = tryParse(argv, allOptions, true);
  const first = globals.tokens.find((t) => t.kind === 'positional');
  if (first === undefined || first.value === 'help') {
    const topic = globals.positionals[1];
    if (first !== undefined && topic !== undefined) {
      return { command: topic, values: { help: true }, positionals: [] };
    }
    if (first !== undefined || globals.values.help || argv.length === 0) {
      return { command: undefined, help: true };
    }
    throw new UsageError('missing command');
  }
  const spec = commands[first.value];
  if (!spec) {
    throw new UsageError(
      `unknown command ${JSON.stringify(first.value)}; commands: ${Object.keys(commands).join(', ')}`,
    );
  }
  const rest = [...argv.slice(0, first.index), ...argv.slice(first.index + 1)];
  const parsed = tryParse(rest, { ...globalOptions, ...spec.options }, false, spec.name);
  if (parsed.values.help) {
    return { command: spec.name, values: parsed.values, positionals: parsed.positionals };
  }
  const { min, max } = spec.positionals;
  if (parsed.positionals.length < min) {
    throw new UsageError(`missing argument; usage: dvt ${spec.usage}`, spec.name);
  }
  if (parsed.positionals.length > max) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(parsed.positionals[max])}; usage: dvt ${spec.usage}`,
      spec.name,
    );
  }
  return { command: spec.name, values: parsed.values, positionals: parsed.positionals };
}

function tryParse(args: readonly string[], options: OptionTable, loose: boolean, command?: string) {
  try {
    const result = parseArgs({
      args: [...args],
      options,
      allowPositionals: true,
      strict: !loose,
      tokens: true,
    });
    return {
      values: result.values as ParsedCommand['values'],
      positionals: result.positionals,
      tokens: result.tokens,
    };
  } catch (error) {
    const message = (error as Error).message.replace(/\s*To specify a positional argument.*$/s, '');
    throw new UsageError(
      message.charAt(0).toLowerCase() + message.slice(1).replace(/\.$/, ''),
      command,
      {
        cause: error,
      },
    );
  }
}

function optionLines(options: OptionTable): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
    return [flag, o.description] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

export function commandHelp(name: string): string {
  const spec = commands[name];
  if (!spec)
    throw new UsageError(
      `unknown command ${JSON.stringify(name)}; commands: ${Object.keys(commands).join(', ')}`,
    );
  const lines = [
    `dvt ${spec.name} — ${spec.summary}`,
    '',
    `usage: dvt ${spec.usage}`,
    '',
    'options:',
  ];
  lines.push(...optionLines(spec.options), '', 'global options:', ...optionLines(globalOptions));
  for (const note of spec.notes ?? []) lines.push('', note);
  return lines.join('\n') + '\n';
}

export function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = [
    'dvt — the DVT+ command-line client (public API only)',
    '',
    'usage: dvt <command> [options]      dvt <command> --help',
    '',
    'commands:',
    ...Object.values(commands).map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'global options:',
    ...optionLines(globalOptions),
    '',
    'environment: DVT_API_URL, DVT_TOKEN, DVT_PROJECT, DVT_JWT_SECRET, DVT_TENANT, DVT_ROLES',
    'exit codes: 0 ok · 1 run FAILED/CANCELLED · 2 usage error · 3 api or connection error',
  ];
  return lines.join('\n') + '\n';
}
