// Container healthcheck of the DVT+ Node services. Slim Node images have no curl or wget, so
// the probe is node itself: GET http://127.0.0.1:$PORT/healthz must answer 200 within
// HEALTHCHECK_TIMEOUT_MS (default 4000). Exit 0 when it does, 1 otherwise, with one line
// saying why (Docker keeps it in `docker inspect` under State.Health).
const port = Number(process.env.PORT ?? '8080');
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS ?? '4000');
const url = `http://127.0.0.1:${port}/healthz`;

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await response.text()).slice(0, 300);
  if (response.status === 200) {
    process.exit(0);
  }
  process.stderr.write(`healthcheck: ${url} answered ${response.status}: ${body}\n`);
  process.exit(1);
} catch (error) {
  if (error instanceof Error && error.name === 'TimeoutError') {
    process.stderr.write(`healthcheck: ${url} did not answer within ${timeoutMs} ms\n`);
  } else {
    const cause = error instanceof Error ? (error.cause?.code ?? error.cause?.message) : undefined;
    process.stderr.write(`healthcheck: ${url} could not be reached (${cause ?? String(error)})\n`);
  }
  process.exit(1);
}
