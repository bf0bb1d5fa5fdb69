/**
 * What the engine needs from the store package: the run state store's event calls and the
 * artifact store's put and readPlan (which verifies a plan's sha256 against its PlanRef).
 */
import type { ArtifactStore, RunStateStore } from '@dvt/store';

export type EventStore = Pick<
  RunStateStore,
  'appendEvent' | 'appendEvents' | 'listEvents' | 'getRun'
>;

export type ArtifactPort = Pick<ArtifactStore, 'readPlan' | 'put'>;
