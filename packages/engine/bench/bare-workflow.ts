/** The benchmark's baseline: a bare workflow running `n` noop activities, `concurrency` at a time. */
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '1 minute' });

export async function bareWorkflow(n: number, concurrency: number): Promise<number> {
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      await noop();
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return done;
}
