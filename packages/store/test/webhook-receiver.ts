import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunEvent } from '@dvt/contracts';

export interface ReceivedDelivery {
  eventId: string;
  timestamp: string;
  signature: string;
  attempt: number;
  body: string;
  event: RunEvent;
  path: string;
}

/** Decides the status of one request; may wait (to hold a request open). */
export type Responder = (delivery: ReceivedDelivery, index: number) => number | Promise<number>;

export interface WebhookReceiver {
  url: string;
  received: ReceivedDelivery[];
  /** Resolves when `predicate` holds for the received list; rejects after `timeoutMs`. */
  waitFor(predicate: (received: ReceivedDelivery[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records webhook deliveries. */
export async function startWebhookReceiver(
  respond: Responder = () => 200,
): Promise<WebhookReceiver> {
  const received: ReceivedDelivery[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    void readBody(req).then(async (body) => {
      const delivery: ReceivedDelivery = {
        eventId: String(req.headers['x-dvt-event-id']),
        timestamp: String(req.headers['x-dvt-timestamp']),
        signature: String(req.headers['x-dvt-signature']),
        attempt: Number(req.headers['x-dvt-delivery-attempt']),
        body,
        event: JSON.parse(body) as RunEvent,
        path: req.url ?? '',
      };
      const index = received.length;
      received.push(delivery);
      for (const waiter of waiters) waiter();
      const status = await respond(delivery, index);
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    waitFor(predicate, timeoutMs = 10_000) {
      if (predicate(received)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(received)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `webhook receiver: condition not met within ${timeoutMs} ms (${received.length} received)`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Groups deliveries by run, keeping the first receipt of each event, in arrival order. */
export function firstSeqsByRun(received: readonly ReceivedDelivery[]): Map<string, number[]> {
  const seen = new Set<string>();
  const byRun = new Map<string, number[]>();
  for (const d of received) {
    if (seen.has(d.eventId)) continue;
    seen.add(d.eventId);
    const list = byRun.get(d.event.runId) ?? [];
    list.push(d.event.runSeq);
    byRun.set(d.event.runId, list);
  }
  return byRun;
}
