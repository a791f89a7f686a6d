/**
 * A request in flight when the server starts closing: its connection, kept alive by the client,
 * is idle once answered, and the close must not wait for its keep-alive timer.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { dropIdleConnectionsWhileClosing } from './close-idle.js';
import { closeIsHeld, stoppedListening } from './testing/close.js';

test('closing drops a kept-alive connection whose request was answered during the close', async () => {
  const app = Fastify();
  dropIdleConnectionsWhileClosing(app);
  let started!: () => void;
  const handlerStarted = new Promise<void>((resolve) => (started = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  app.get('/slow', async () => {
    started();
    await gate;
    return { done: true };
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const answer = fetch(`${url}/slow`).then(async (response) => ({ status: response.status, body: await response.json() }));
  await handlerStarted;
  const closing = app.close();
  await stoppedListening(app); // answered after the close dropped what was idle then
  release();
  assert.deepEqual(await answer, { status: 200, body: { done: true } }, 'the request in flight is answered');
  assert.equal(await closeIsHeld(app, closing), false, 'the close waited for the kept-alive connection');
});
