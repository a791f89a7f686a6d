/**
 * `tts-queue serve` (what `npm start` runs), `tts-queue api` and `tts-queue worker`: the
 * service in one of its roles, configured from the environment, stopped gracefully by
 * SIGTERM or SIGINT (no new work; work in flight finishes or goes back to the queue).
 */

import { loadConfig, type ServiceConfig } from '../config/config.js';
import { createLogger } from '../service/logger.js';
import { startService, type ServiceRole } from '../service/service.js';

/** After the drain, room for the hosts and the backend to close before the process gives up. */
const CLOSE_MARGIN_MS = 20_000;

/** When a stopping process exits at the latest: its orchestrator's grace period must cover this. */
export function shutdownDeadlineMs(config: ServiceConfig): number {
  return config.shutdownGraceMs + CLOSE_MARGIN_MS;
}

export async function runServe(role: ServiceRole = 'serve'): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  // Listen for SIGTERM and SIGINT before anything starts: a stop asked for while the service
  // starts is a graceful stop as soon as it has started, never the default (immediate) death.
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const service = await startService(config, { logger, role });
  const engines = role === 'api' ? 'none (the workers run them)' : config.engines.map((e) => `${e.name} × ${e.hosts}`).join(', ');
  logger.info(`${role}: listening on ${service.url} (backend ${config.backend}, engines ${engines})`);
  process.stderr.write(`tts-queue: listening on ${service.url}\n`);
  const signal = await stopSignal;
  logger.info({ signal }, 'shutting down: no new work; finishing or handing back what runs');
  const force = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, shutdownDeadlineMs(config));
  force.unref();
  await service.close().catch((error: unknown) => logger.error({ err: error }, 'shutdown failed'));
}
