import { describe, expect, it } from 'vitest';
import { commandHelp, commands, mainHelp, parseCommandLine } from '../src/args.ts';
import { UsageError } from '../src/errors.ts';

function usage(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('parseCommandLine', () => {
  it('reads repeatable selectors, flags and the file of dvt plan', () => {
    expect(
      parseCommandLine([
        'plan',
        'target/manifest.json',
        '--select',
        '+orders',
        '--select',
        'tag:nightly',
        '--exclude',
        'stg_x',
        '--full-refresh',
        '--graph',
        'dag.svg',
      ]),
    ).toEqual({
      command: 'plan',
      values: {
        select: ['+orders', 'tag:nightly'],
        exclude: ['stg_x'],
        'full-refresh': true,
        graph: 'dag.svg',
      },
      positionals: ['target/manifest.json'],
    });
  });

  it('accepts global options before the command, with their values', () => {
    expect(
      parseCommandLine([
        '--api',
        'http://127.0.0.1:9999',
        '--project',
        'shop',
        'runs',
        '--limit',
        '5',
      ]),
    ).toEqual({
      command: 'runs',
      values: { api: 'http://127.0.0.1:9999', project: 'shop', limit: '5' },
      positionals: [],
    });
  });

  it('takes --key=value and short flags', () => {
    expect(parseCommandLine(['run', 'p.json', '-w', '--environment=prod'])).toEqual({
      command: 'run',
      values: { watch: true, environment: 'prod' },
      positionals: ['p.json'],
    });
  });

  it('gives help for no arguments, --help, help and help <command>', () => {
    expect(parseCommandLine([])).toEqual({ command: undefined, help: true });
    expect(parseCommandLine(['--help'])).toEqual({ command: undefined, help: true });
    expect(parseCommandLine(['help'])).toEqual({ command: undefined, help: true });
    expect(parseCommandLine(['help', 'run'])).toEqual({
      command: 'run',
      values: { help: true },
      positionals: [],
    });
    expect(parseCommandLine(['status', '--help'])).toMatchObject({
      command: 'status',
      values: { help: true },
    });
  });

  it('rejects an unknown command, naming the known ones', () => {
    expect(usage(['deploy'])).toBe(
      'unknown command "deploy"; commands: plan, run, runs, status, events, token, cancel, pause, resume, approve, retry-step, skip-step, retry-run',
    );
  });

  it('rejects an unknown option of the command', () => {
    expect(usage(['status', 'r1', '--watch'])).toBe("unknown option '--watch'");
  });

  it('rejects an option without its value', () => {
    expect(usage(['plan', 'm.json', '--select'])).toBe(
      "option '--select <value>' argument missing",
    );
  });

  it('rejects a missing or an extra positional argument with the usage line', () => {
    expect(usage(['status'])).toBe('missing argument; usage: dvt status <runId> [--json]');
    expect(usage(['status', 'a', 'b'])).toBe(
      'unexpected argument "b"; usage: dvt status <runId> [--json]',
    );
  });

  it('rejects options before a missing command', () => {
    expect(usage(['--json'])).toBe('missing command');
  });
});

describe('help', () => {
  it('documents every option of every command', () => {
    for (const [name, spec] of Object.entries(commands)) {
      const help = commandHelp(name);
      expect(help.startsWith(`dvt ${name} — ${spec.summary}\n\nusage: dvt ${spec.usage}\n`)).toBe(
        true,
      );
      for (const option of Object.keys(spec.options)) expect(help).toContain(`--${option}`);
      expect(help).toContain('--api URL');
    }
  });

  it('lists every command and the exit codes on the main page', () => {
    const help = mainHelp();
    for (const name of Object.keys(commands)) expect(help).toMatch(new RegExp(`^  ${name} +`, 'm'));
    expect(help).toContain(
      'exit codes: 0 ok · 1 run FAILED/CANCELLED · 2 usage error · 3 api or connection error',
    );
  });
});
