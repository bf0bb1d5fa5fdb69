import { createLogger, runService } from '@dvt/service-kit';
import { createPlannerService } from './app.ts';
import { loadPlannerConfig } from './config.ts';

export { createPlannerService } from './app.ts';
export { loadPlannerConfig, plannerEnvSchema } from './config.ts';
export type { PlannerConfig } from './config.ts';

if (import.meta.main) {
  await runService({
    name: 'planner',
    async create() {
      const config = loadPlannerConfig();
      const log = createLogger({ service: 'planner', level: config.LOG_LEVEL });
      return { service: createPlannerService(config, log), log, graceMs: config.SHUTDOWN_GRACE_MS };
    },
  });
}
