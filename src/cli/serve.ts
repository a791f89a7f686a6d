/** `tts-queue serve` (what `npm start` runs): the service, configured from the environment. */

import { loadConfig } from '../config/config.js';
import { createLogger } from '../service/logger.js';
import { startService } from '../service/service.js';

/** Shutdown waits this long for work in flight before handing the rest back. */
const SHUTDOWN_GRACE_MS = 30_000;

export async function runServe(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  const service = await startService(config, { logger });
  logger.info(`listening on ${service.url} (data in ${config.dataDir}, engines ${config.engines.map((e) => `${e.name} × ${e.hosts}`).join(', ')})`);
  process.stderr.write(`tts-queue: listening on ${service.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down: no new work; finishing or handing back what runs');
      const force = setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      void service.close().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
