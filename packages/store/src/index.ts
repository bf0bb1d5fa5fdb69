export {
  MIGRATION_LOCK_KEY,
  MigrationError,
  migrate,
  migrationsDir,
  readMigrations,
} from './migrate.ts';
export type { MigrateOptions, MigrationFile } from './migrate.ts';
export { RunStateStore, createRunStateStore, toRunEvent } from './run-state-store.ts';
export type {
  AppendOptions,
  AppendResult,
  ListEventsOptions,
  ListRunsOptions,
  RunPage,
  RunRecord,
  RunStateStoreOptions,
  RunWithSteps,
  StepCounts,
  StepRecord,
} from './run-state-store.ts';
export { OutboxRelay, createOutboxRelay } from './outbox-relay.ts';
export type { OutboxRelayOptions, RelayCycleResult } from './outbox-relay.ts';
export {
  RUN_EVENTS_CHANNEL,
  RunEventListener,
  createRunEventListener,
} from './run-event-listener.ts';
export type { RunEventListenerOptions } from './run-event-listener.ts';
export {
  WebhookSubscriptionStore,
  createWebhookSubscriptionStore,
  signWebhook,
  verifyWebhookSignature,
} from './webhooks.ts';
export type {
  CreateWebhookInput,
  VerifyWebhookOptions,
  WebhookStoreOptions,
  WebhookSubscription,
} from './webhooks.ts';
export { BaseArtifactStore } from './artifact-store.ts';
export type {
  ArtifactBackend,
  ArtifactBody,
  ArtifactMeta,
  ArtifactStore,
  ArtifactStoreDeps,
  PutArtifactOptions,
  PutArtifactResult,
} from './artifact-store.ts';
export { PostgresArtifactStore } from './artifact-postgres.ts';
export {
  S3ArtifactStore,
  createS3Client,
  ensureBucket,
  objectKey,
  s3Probe,
} from './artifact-s3.ts';
export type { S3ArtifactOptions } from './artifact-s3.ts';
export {
  artifactEnvSchema,
  createArtifactStore,
  loadArtifactConfig,
} from './create-artifact-store.ts';
export type { ArtifactConfig } from './create-artifact-store.ts';
