/**
 * The http executor's view of the shared SSRF guard (`@dvt/service-kit`): the same checks,
 * with failures turned into step errors that name HTTP_ALLOWLIST and are never retried.
 */
import {
  Allowlist,
  DestinationError,
  forbiddenReason,
  resolveGuarded as resolveShared,
  systemResolver,
  type ResolvedAddress,
  type Resolver,
} from '@dvt/service-kit';
import { StepError } from './types.ts';

export { Allowlist, forbiddenReason, systemResolver };
export type { ResolvedAddress, Resolver };

/**
 * Resolves `host` and returns the address to connect to, or throws HTTP_DESTINATION_FORBIDDEN
 * (or HTTP_DNS_FAILED) naming the host, the address and why.
 */
export async function resolveGuarded(
  host: string,
  allowlist: Allowlist,
  resolver: Resolver = systemResolver,
): Promise<ResolvedAddress> {
  try {
    return await resolveShared(host, allowlist, { resolver, setting: 'HTTP_ALLOWLIST' });
  } catch (error) {
    if (!(error instanceof DestinationError)) throw error;
    if (error.code === 'DESTINATION_UNRESOLVABLE') {
      throw new StepError('HTTP_DNS_FAILED', error.message, { cause: error.cause ?? error });
    }
    throw new StepError('HTTP_DESTINATION_FORBIDDEN', error.message, {
      retryable: false,
      details: { host: error.host, address: error.address },
    });
  }
}
