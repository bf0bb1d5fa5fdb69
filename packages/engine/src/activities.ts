import type { Logger } from '@dvt/service-kit';

export interface ActivityDeps {
  log: Logger;
}

/** Activities get their dependencies through this factory, wired once in app.ts. */
export function createActivities(_deps: ActivityDeps) {
  return {
    async echo(message: string): Promise<string> {
      return `pong: ${message}`;
    },
  };
}
