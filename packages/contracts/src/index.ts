export { errorCodes, statusOf } from './error-codes.ts';
export type { ErrorCode } from './error-codes.ts';
