export {
  testInfra,
  testMinioEndpoint,
  testPostgresAdminUrl,
  testRunDir,
  testTemporalAddress,
} from './infra.ts';
export { createTestDatabase } from './database.ts';
export type { TestDatabase } from './database.ts';
export { startPrivatePostgres, startPrivateTemporal } from './private-servers.ts';
export type { PrivateServer } from './private-servers.ts';
export { spawnService } from './service-process.ts';
export type { ServiceProcess } from './service-process.ts';
export { freePort } from '@dvt/devstack';
export { freePortBlock } from './ports.ts';
export { fixturePath, fixturesDir } from './fixtures.ts';
