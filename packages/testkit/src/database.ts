import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { testPostgresAdminUrl } from './infra.ts';

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, ending any connections still open to it. */
  drop(): Promise<void>;
}

/** A fresh, empty database on the shared test server; one per test file. */
export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${pg.escapeIdentifier(name)}`);
  const url = new URL(testPostgresAdminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => adminQuery(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`),
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: testPostgresAdminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
