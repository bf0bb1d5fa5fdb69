import type { Logger, Resolver } from '@dvt/service-kit';
import type { ArtifactStore, RunStateStore, WebhookSubscriptionStore } from '@dvt/store';
import type { EngineClient } from '../clients/engine-client.ts';
import type { PlannerClient } from '../clients/planner-client.ts';
import type { ApiConfig } from '../config.ts';
import type { ArtifactLinkRepository } from '../data/artifact-links.ts';
import type { ApiKeyRepository } from '../data/api-keys.ts';
import type { PlanRepository } from '../data/plans.ts';
import type { ProjectRepository } from '../data/projects.ts';
import type { RunRequestRepository } from '../data/run-requests.ts';
import type { StreamSettings } from '../streams/transports.ts';

/** Everything the route handlers use, built once in app.ts. */
export interface RouteDeps {
  config: ApiConfig;
  log: Logger;
  projects: ProjectRepository;
  plans: PlanRepository;
  runRequests: RunRequestRepository;
  apiKeys: ApiKeyRepository;
  webhooks: WebhookSubscriptionStore;
  runs: RunStateStore;
  artifacts: ArtifactStore;
  planner: PlannerClient;
  engine: EngineClient;
  streams: StreamSettings;
  /** Resolves webhook hosts for the destination check; the system resolver when absent. */
  resolver?: Resolver;
  /** Which projects artifacts belong to, for project-scoped readers. */
  artifactLinks: ArtifactLinkRepository;
}

/** Links of a run: its resources and its workflow in the Temporal UI. */
export function runLinks(config: ApiConfig, runId: string) {
  const base = config.PUBLIC_BASE_URL.replace(/\/$/, '');
  const id = encodeURIComponent(runId);
  const wsBase = base.replace(/^http/, 'ws');
  return {
    self: `${base}/v1/runs/${id}`,
    events: `${base}/v1/runs/${id}/events`,
    stream: `${base}/v1/runs/${id}/events/stream`,
    websocket: `${wsBase}/v1/runs/${id}/events/ws`,
    temporalUi: `${config.TEMPORAL_UI_URL.replace(/\/$/, '')}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${id}`,
  };
}
