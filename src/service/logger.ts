/** The logger type the service passes around (pino, as Fastify creates it). */

import pino from 'pino';

export type Logger = pino.Logger;

/** Where a key could appear in a log line (a request's headers, if a serializer ever logs them): never written. */
export const REDACTED_PATHS = ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]', 'authorization'];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination === undefined ? pino(options) : pino(options, destination);
}
