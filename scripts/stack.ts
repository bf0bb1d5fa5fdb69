/**
 * pnpm stack up [--infra-only] [--no-build] | down [--test [--purge]] | reset | status | logs [name] [--lines N]
 *
 * Runs the DVT+ topology natively (no Docker). See README "Native stack".
 */
import { rmSync } from 'node:fs';
import { postgresDataDir, stopManaged, stopPostgres } from '../packages/devstack/src/index.ts';
import {
  stackDown,
  stackLogs,
  stackReset,
  stackStatus,
  stackUp,
} from '../packages/devstack/src/stack.ts';
import { testRunDir } from '../packages/testkit/src/infra.ts';

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

try {
  if (command in flagsOf && unknownFlag !== undefined) {
    const allowed = flagsOf[command]!;
    console.error(
      `stack ${command}: unknown flag "${unknownFlag}"; ${command} takes ${allowed.length ? allowed.join(', ') : 'no flags'} (usage: ${usage})`,
    );
    process.exit(2);
  }
  if (flag('--purge') && !flag('--test')) {
    console.error('stack down: --purge only goes with --test; `pnpm stack reset` wipes the stack');
    process.exit(2);
  }
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
    case 'logs': {
      const name = rest.find((r) => !r.startsWith('--'));
      const i = rest.indexOf('--lines');
      stackLogs(name, i >= 0 ? Number(rest[i + 1]) : 40);
      break;
    }
    default:
      console.error(`unknown command "${command}"; use: ${usage}`);
      process.exitCode = 2;
  }
} catch (error) {
  console.error(`stack: ${(error as Error).message}`);
  process.exitCode = 1;
}
