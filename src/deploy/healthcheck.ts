/**
 * The container health check (`node dist/src/deploy/healthcheck.js`, the images' HEALTHCHECK).
 * One image runs every role, and the check cannot know which: `serve` and `api` answer
 * /healthz on PORT, `worker` on its METRICS_PORT listener. Healthy when either answers 200.
 * Slim images have no curl, hence Node.
 */

/** Longer than a busy event loop's pause, shorter than the HEALTHCHECK's own timeout. */
const REQUEST_TIMEOUT_MS = 2_000;

async function answers(port: string): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    return response.status === 200;
  } catch {
    return false;
  }
}

const ports = [process.env.PORT || '3000', process.env.METRICS_PORT || '9464'];
process.exitCode = (await answers(ports[0]!)) || (await answers(ports[1]!)) ? 0 : 1;
