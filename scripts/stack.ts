/**
 * pnpm stack up [--infra-only] [--no-build] | down [--test [--purge]] | reset | status | logs [name] [--lines N]
 *
 * Runs the DVT+ topology natively (no Docker). See README "Native stack".
 */
import { rmSync } from 'node:fs';

const [command = 'status', ...rest] = process.argv.slice(2);
const flag = (name: string) => rest.includes(name);
const usage =
  'up [--infra-only] [--no-build] | down [--test [--purge]] | reset | status | logs [name] [--lines N]';

/** Flags each command takes; anything else is refused rather than silently ignored. */
const flagsOf: Record<string, string[]> = {
  up: ['--infra-only', '--no-build'],
  down: ['--test', '--purge'],
  reset: [],
  status: [],
  logs: ['--lines'],
};
const unknownFlag = rest.find((r) => r.startsWith('-') && !(flagsOf[command] ?? []).includes(r));
/** Words that are no flag: only `logs` takes one (a name), and `--lines` its number. */
const words = rest.filter((r, i) => !r.startsWith('-') && rest[i - 1] !== '--lines');
const logNames = ['postgres', 'temporal', 'minio', 'planner', 'engine', 'api'];

try {
  if (command in flagsOf && unknownFlag !== undefined) {
    const allowed = flagsOf[command]!;
    console.error(
      `stack ${command}: unknown flag "${unknownFlag}"; ${command} takes ${allowed.length ? allowed.join(', ') : 'no flags'} (usage: ${usage})`,
    );
    process.exit(2);
  }
  if (command in flagsOf && words.length > (command === 'logs' ? 1 : 0)) {
    console.error(`stack ${command}: unexpected "${words.at(-1)}" (usage: ${usage})`);
    process.exit(2);
  }
  if (command === 'logs' && words[0] !== undefined && !logNames.includes(words[0])) {
    console.error(`stack logs: no process "${words[0]}"; one of ${logNames.join(', ')}`);
    process.exit(2);
  }
  const lines = rest.includes('--lines') ? Number(rest[rest.indexOf('--lines') + 1]) : 40;
  if (!Number.isInteger(lines) || lines < 1) {
    console.error('stack logs: --lines takes a whole number above 0');
    process.exit(2);
  }
  if (flag('--purge') && !flag('--test')) {
    console.error('stack down: --purge only goes with --test; `pnpm stack reset` wipes the stack');
    process.exit(2);
  }
  // Imported here, not at the top: reading the settings can fail (a bad port variable), and
  // that must end as one line below, not as a stack trace.
  const { postgresDataDir, stopManaged, stopPostgres } =
    await import('../packages/devstack/src/index.ts');
  const { stackDown, stackLogs, stackReset, stackStatus, stackUp } =
    await import('../packages/devstack/src/stack.ts');
  const { testRunDir } = await import('../packages/testkit/src/infra.ts');
  switch (command) {
    case 'up':
      await stackUp({ infraOnly: flag('--infra-only'), build: !flag('--no-build') });
      break;
    case 'down':
      if (flag('--test')) {
        for (const name of ['test-minio', 'test-temporal']) {
          console.log(
            `stack: ${name.padEnd(14)} ${(await stopManaged(testRunDir, name)) ? 'stopped' : 'not running'}`,
          );
        }
        const pgStopped = await stopPostgres(testRunDir, 'test-postgres');
        console.log(
          `stack: ${'test-postgres'.padEnd(14)} ${pgStopped ? 'stopped' : 'not running'}`,
        );
        if (flag('--purge')) {
          const pgData = postgresDataDir('test-postgres');
          for (const dir of [testRunDir, pgData, `${pgData}.pw`]) {
            rmSync(dir, { recursive: true, force: true });
          }
          console.log(`stack: test data removed (${testRunDir}, ${pgData})`);
        }
      } else {
        await stackDown();
      }
      break;
    case 'reset':
      await stackReset();
      break;
    case 'status':
      process.exitCode = (await stackStatus()) ? 0 : 1;
      break;
    case 'logs':
      stackLogs(words[0], lines);
      break;
    default:
      console.error(`unknown command "${command}"; use: ${usage}`);
      process.exitCode = 2;
  }
} catch (error) {
  console.error(`stack: ${(error as Error).message}`);
  process.exitCode = 1;
}
