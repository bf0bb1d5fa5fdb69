/**
 * `node packages/store/dist/migrate-cli.js` (or `pnpm migrate`): applies pending migrations to
 * DATABASE_URL, prints one line per applied file, and exits non-zero with one line on failure.
 */
import {
  createLogger,
  createPool,
  errorText,
  loadConfig,
  logLevel,
  postgresUrl,
} from '@dvt/service-kit';
import { z } from 'zod';
import { migrate } from './migrate.ts';

const CliEnv = z.object({ DATABASE_URL: postgresUrl, LOG_LEVEL: logLevel.default('warn') });

async function main(): Promise<void> {
  const config = loadConfig(CliEnv);
  const log = createLogger({ service: 'migrate', level: config.LOG_LEVEL });
  const pool = createPool({
    connectionString: config.DATABASE_URL,
    log,
    max: 1,
    connectionTimeoutMillis: 10_000,
    applicationName: 'dvt-migrate',
  });
  try {
    const { applied } = await migrate(pool, log);
    for (const name of applied) process.stdout.write(`applied ${name}\n`);
    process.stdout.write(
      applied.length === 0 ? 'schema is up to date\n' : `${applied.length} migration(s) applied\n`,
    );
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`migrate failed: ${errorText(error)}\n`);
  process.exitCode = 1;
});
