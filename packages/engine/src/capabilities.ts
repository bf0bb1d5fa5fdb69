import {
  dbtMaterializations,
  signalTypes,
  stepKinds,
  type EngineCapabilities,
} from '@dvt/contracts';
import type { EngineConfig } from './config.ts';

/** What this engine can run (GET /internal/v1/capabilities). */
export function engineCapabilities(config: EngineConfig, targets: string[]): EngineCapabilities {
  return {
    kinds: [...stepKinds],
    materializations: [...dbtMaterializations],
    signals: [...signalTypes],
    targets: [...targets].sort(),
    limits: {
      maxSteps: config.ENGINE_MAX_STEPS,
      maxConcurrency: 256,
      maxPlanBytes: config.ENGINE_MAX_PLAN_BYTES,
    },
  };
}
