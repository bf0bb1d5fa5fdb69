import { createLogger, runService } from '@dvt/service-kit';
import { createApiService } from './app.ts';
import { loadApiConfig } from './config.ts';

export { createApiService } from './app.ts';
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
