import { createLogger, createPool, type Logger } from '@dvt/service-kit';
import { createTestDatabase, type TestDatabase } from '@dvt/testkit';
import type pg from 'pg';
import { migrate } from '../src/index.ts';

export const silentLog: Logger = createLogger({ service: 'store-test', level: 'silent' });

export interface MigratedDatabase {
  db: TestDatabase;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** A fresh test database with every migration applied, and a pool on it. */
export async function createMigratedDatabase(max = 12): Promise<MigratedDatabase> {
  const db = await createTestDatabase('store');
  const pool = createPool({ connectionString: db.url, log: silentLog, max });
  await migrate(pool, silentLog);
  return {
    db,
    pool,
    close: async () => {
      await pool.end();
      await db.drop();
    },
  };
}
