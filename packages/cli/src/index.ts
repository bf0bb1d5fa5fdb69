export { runCli } from './cli.ts';
export type { CliIo } from './context.ts';
export { ApiClient } from './client.ts';
export type { ApiClientOptions, ApiResponse, RequestOptions } from './client.ts';
export { ApiError, ConnectionError, ExitCode, UsageError, describeError } from './errors.ts';
export { followRunEvents, eventsOf } from './follow.ts';
export type { FollowEnd, FollowOptions } from './follow.ts';
export { toMermaid, toSvg, layoutPlan, graphFormatOf } from './graph.ts';
export { detectPlanInput, planRequestBody, readPlanInput } from './input.ts';
export type { PlanInput, PlanSelection } from './input.ts';
export { normalizeCompiledPlan, renderPlan, levelsOf, formatDuration } from './plan-view.ts';
export type { CompiledPlanView } from './plan-view.ts';
export {
  RunProgress,
  createLineRenderer,
  createTtyRenderer,
  describeEvent,
  renderFrame,
} from './progress.ts';
export type { ProgressEvent, ProgressRenderer } from './progress.ts';
export { parseSse } from './sse.ts';
export {
  mintDevToken,
  parseRoles,
  parseTtl,
  STACK_DEV_JWT_SECRET,
  tokenDefaults,
} from './token.ts';
