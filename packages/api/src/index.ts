import { createLogger, runService } from '@dvt/service-kit';
import { createApiService } from './app.ts';
import { loadApiConfig } from './config.ts';

export { API_VERSION, createApiService } from './app.ts';
export type { ApiService } from './app.ts';
export { mintDevToken } from './mint-token.ts';
export type { MintTokenOptions } from './mint-token.ts';
export { buildRouteTable } from './routes.ts';
export type { ApiRoute, RouteScope } from './http/route-table.ts';
export { allows, parseGrant, permissions, roles } from './auth/roles.ts';
export type { Grant, Permission, Role } from './auth/roles.ts';
export { apiEnvSchema, DEV_JWT_SECRET, loadApiConfig } from './config.ts';
export type { ApiConfig } from './config.ts';

if (import.meta.main) {
  await runService({
    name: 'api',
    async create() {
      const config = loadApiConfig();
      const log = createLogger({ service: 'api', level: config.LOG_LEVEL });
      return { service: createApiService(config, log), log, graceMs: config.SHUTDOWN_GRACE_MS };
    },
  });
}
