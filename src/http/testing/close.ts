/** Checks of how a server closes. */

import type { FastifyInstance } from 'fastify';

/**
 * Whether `app.close()` (`closing`) is still waiting at half the server's keep-alive time. Not a
 * speed bound: a close held by a kept-alive connection waits for that whole timer (72 s).
 */
export async function closeIsHeld(app: FastifyInstance, closing: Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const halfKeepAlive = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, app.server.keepAliveTimeout / 2, true)));
  const held = await Promise.race([closing.then(() => false), halfKeepAlive]);
  clearTimeout(timer);
  return held;
}

/** Resolves once the server has stopped listening: the close has dropped the connections idle at its start. */
export async function stoppedListening(app: FastifyInstance): Promise<void> {
  while (app.server.listening) await new Promise((resolve) => setImmediate(resolve));
}
