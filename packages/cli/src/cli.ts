/** Dispatch: parse the command line, run the command, turn every error into one line and an exit code. */
import {
  commandHelp,
  mainHelp,
  parseCommandLine,
  signalCommands,
  type SignalCommand,
} from './args.ts';
import { eventsCommand, runsCommand, statusCommand } from './commands/runs.ts';
import { planCommand, runCommand } from './commands/plan.ts';
import { signalCommand } from './commands/signals.ts';
import { tokenCommand } from './commands/token.ts';
import { CliContext, type CliIo } from './context.ts';
import { describeError, ExitCode } from './errors.ts';

type Handler = (ctx: CliContext, positionals: string[]) => Promise<number>;

const handlers: Record<string, Handler> = {
  plan: planCommand,
  run: runCommand,
  runs: runsCommand,
  status: statusCommand,
  events: eventsCommand,
  token: tokenCommand,
};

/** Runs one invocation; resolves to the exit code and never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.command === undefined) {
      io.stdout.write(mainHelp());
      return ExitCode.ok;
    }
    if (parsed.values.help) {
      io.stdout.write(commandHelp(parsed.command));
      return ExitCode.ok;
    }
    const ctx = new CliContext(io, parsed.values);
    const handler: Handler =
      handlers[parsed.command] ?? ((c, p) => signalCommand(c, parsed.command as SignalCommand, p));
    if (!handlers[parsed.command] && !(parsed.command in signalCommands)) {
      throw new Error(`no handler for ${parsed.command}`);
    }
    return await handler(ctx, parsed.positionals);
  } catch (error) {
    const { lines, exitCode } = describeError(error);
    for (const line of lines) io.stderr.write(line + '\n');
    return exitCode;
  }
}
