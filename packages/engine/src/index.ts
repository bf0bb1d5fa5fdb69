import { createLogger, runService } from '@dvt/service-kit';
import { createEngineService } from './app.ts';
import { loadEngineConfig } from './config.ts';

export { createEngineService } from './app.ts';
export { engineEnvSchema, loadEngineConfig } from './config.ts';
export type { EngineConfig } from './config.ts';

if (import.meta.main) {
  await runService({
    name: 'engine',
    async create() {
      const config = loadEngineConfig();
      const log = createLogger({ service: 'engine', level: config.LOG_LEVEL });
      return {
        service: createEngineService(config, log),
        log,
        graceMs: config.SHUTDOWN_GRACE_MS + 5_000,
      };
    },
  });
}
