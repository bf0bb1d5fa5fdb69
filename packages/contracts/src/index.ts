export { errorCodes, statusOf } from './error-codes.ts';
export type { ErrorCode } from './error-codes.ts';
export {
  EventType,
  PlanRef,
  RUN_SCOPE,
  RunContext,
  RunSignal,
  RunStatus,
  SignalType,
  StepStatus,
  eventTypes,
  idempotencyKey,
  runStatuses,
  signalTypes,
  stepStatuses,
  terminalRunStatuses,
} from './events.ts';
export type { IdempotencyKeyParts, RunEvent, RunEventInput } from './events.ts';
