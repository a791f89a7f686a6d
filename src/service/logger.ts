/** The logger type the service passes around (pino, as Fastify creates it). */

import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({ level });
}
