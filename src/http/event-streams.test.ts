/**
 * Event streams (SSE and WebSocket) against the real HTTP app, TaskService and SQLite backend.
 * Events come from real backend work done by the test itself (segments claimed and completed
 * in a loop, one progress event each), fast enough to fill the kernel's buffers for a client
 * that does not read, without depending on timing.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { createApp } from './app.js';
import { WS_CLOSE_NOT_READING } from './routes/events.js';
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js';
import { createLogger } from '../service/logger.js';
import { wireApi } from '../service/api-wiring.js';
import { loadConfig } from '../config/config.js';
import type { BlobStore } from '../storage/blob-store.js';

/** Far more than any kernel buffers for one connection: a stream still open after this many events was never bounded. */
const MAX_EVENTS = 100_000;
const SEGMENTS = MAX_EVENTS + 10;

interface Harness {
  app: FastifyInstance;
  backend: SqliteBackend;
  port: number;
  taskId: string;
  /** Completes segments (one progress event each) in bursts until `stop()` says so or MAX_EVENTS went out; returns how many. */
  emitUntil(stop: () => boolean): Promise<number>;
}

async function startApp(segments = SEGMENTS): Promise<Harness> {
  const backend = new SqliteBackend({ path: ':memory:' });
  const logger = createLogger('silent');
  const { deps } = await wireApi({ ...loadConfig({}), maxTextChars: 1_000 }, { backend, blobs: {} as BlobStore, logger, engines: () => [] });
  const app = await createApp({
    ...deps,
    blobs: {} as BlobStore,
    logger,
    engines: () => [],
    isReady: () => true,
    limits: { maxUploadBytes: 1024 * 1024, maxTextChars: 1_000 },
    audit: backend.audit,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { task } = await backend.createTask({ text: '一。', format: 'wav', priority: 0, pronunciations: [] });
  const prepare = await backend.claim('test', ['prepare'], 60_000);
  assert.equal(prepare?.kind, 'prepare');
  await backend.completePrepare(prepare as typeof prepare & { kind: 'prepare' }, { segments: Array.from({ length: segments }, () => '一。') });
  return {
    app,
    backend,
    port: (app.server.address() as AddressInfo).port,
    taskId: task.id,
    async emitUntil(stop) {
      let events = 0;
      while (!stop() && events < MAX_EVENTS) {
        for (let i = 0; i < 500 && events < MAX_EVENTS; i++) {
          const unit = await backend.claim('test', ['segment'], 60_000);
          assert.equal(unit?.kind, 'segment');
          await backend.completeSegment(unit as typeof unit & { kind: 'segment' }, { audioPath: 'unused.wav', durationMs: 1 });
          events += 1;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      return events;
    },
  };
}

async function stopApp(harness: Harness): Promise<void> {
  await harness.app.close();
  await harness.backend.close();
}

/** Polls `condition` until it holds, failing with `what` past the deadline (no fixed sleeps). */
async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Sends raw request lines on a fresh TCP connection and returns the whole answer (the server closes it). */
async function rawRequest(port: number, lines: string[]): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`${[...lines, 'Host: 127.0.0.1', 'Connection: close'].join('\r\n')}\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

test('an SSE client that never reads is disconnected by the server once a bounded amount waits for it', { timeout: 120_000 }, async () => {
  const harness = await startApp();
  try {
    const serverSockets: Socket[] = [];
    harness.app.server.on('connection', (socket: Socket) => serverSockets.push(socket));
    const client = connect(harness.port, '127.0.0.1');
    await once(client, 'connect');
    client.pause(); // never reads: what the server sends stays in the kernel's buffers
    client.write(`GET /api/task/${harness.taskId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await until(() => serverSockets.length === 1, 'the server took the connection');

    const emitted = await harness.emitUntil(() => serverSockets[0]!.destroyed);
    assert.ok(serverSockets[0]!.destroyed, `the stream is still open after ${emitted} events: nothing bounds what waits for this client`);

    // What reached the client is what the kernel held plus at most the bound: the rest was never buffered.
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.resume();
    await once(client, 'close');
    const eventsReceived = Buffer.concat(chunks).toString('utf8').split('event: progress').length - 1;
    assert.ok(eventsReceived > 0 && eventsReceived < emitted, `received ${eventsReceived} of ${emitted} events`);
  } finally {
    await stopApp(harness);
  }
});

test('a WebSocket subscriber that never reads is closed with code 1008 and a reason', { timeout: 120_000 }, async () => {
  const harness = await startApp();
  try {
    const client = new WebSocket(`ws://127.0.0.1:${harness.port}/api/ws`);
    await once(client, 'open');
    const snapshot = once(client, 'message');
    client.send(JSON.stringify({ type: 'subscribe', ids: [harness.taskId] }));
    assert.equal(JSON.parse(String((await snapshot)[0])).type, 'snapshot');
    client.pause();

    const serverSide = [...harness.app.websocketServer.clients];
    assert.equal(serverSide.length, 1);
    const emitted = await harness.emitUntil(() => serverSide[0]!.readyState !== WebSocket.OPEN);
    assert.notEqual(serverSide[0]!.readyState, WebSocket.OPEN, `the WebSocket is still open after ${emitted} events: nothing bounds what waits for this client`);

    let messages = 0;
    client.on('message', () => {
      messages += 1;
    });
    const closed = once(client, 'close');
    client.resume();
    const [code, reason] = (await closed) as [number, Buffer];
    assert.equal(code, WS_CLOSE_NOT_READING);
    assert.match(reason.toString(), /not read/u);
    assert.ok(messages < emitted, `${messages} messages reached the client of ${emitted} emitted`);
  } finally {
    await stopApp(harness);
  }
});

// Last-Event-ID: refused, never read as 0, when repeated or not a whole number (each case its own test).
const harness = await startApp(1);
const { app } = harness;
const TASK_ID = harness.taskId;
test.after(() => stopApp(harness));

async function refused(url: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await app.inject({ method: 'GET', url, headers });
  assert.equal(response.statusCode, 400, response.body);
  const body = response.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'E_INVALID_ARGUMENT');
  return body.error.message;
}

test('a repeated last_event_id query parameter is refused, not read as 0', async () => {
  assert.match(await refused(`/api/task/${TASK_ID}/events?last_event_id=5&last_event_id=7`), /got several/u);
});

test('a repeated Last-Event-ID header (joined by Node) is refused', async () => {
  const { port } = app.server.address() as AddressInfo;
  const answer = await rawRequest(port, [`GET /api/task/${TASK_ID}/events HTTP/1.1`, 'Last-Event-ID: 5', 'Last-Event-ID: 7']);
  assert.match(answer, /^HTTP\/1\.1 400 /u);
  assert.match(answer, /E_INVALID_ARGUMENT/u);
  assert.match(answer, /got \\"5, 7\\"/u);
});

for (const [name, value] of [
  ['letters', 'abc'],
  ['a negative number', '-1'],
  ['an exponent beyond any number', '1e400'],
  ['an exponent', '1e3'],
  ['hexadecimal', '0x10'],
  ['a leading space', ' 5'],
  ['a fraction', '2.5'],
  ['an empty value', ''],
  ['beyond a safe integer', '99999999999999999'],
] as const) {
  test(`last_event_id given as ${name} is refused, the value shown`, async () => {
    const message = await refused(`/api/task/${TASK_ID}/events?last_event_id=${encodeURIComponent(value)}`);
    assert.ok(message.includes(JSON.stringify(value)), message);
  });
}

test('a huge last_event_id is refused with its value cut short in the message', async () => {
  const message = await refused(`/api/task/${TASK_ID}/events?last_event_id=${'9'.repeat(400)}`);
  assert.ok(message.includes(`"${'9'.repeat(40)}…"`), message);
  assert.ok(message.length < 200, message);
});

test('Last-Event-ID given as letters in the header is refused', async () => {
  assert.match(await refused(`/api/task/${TASK_ID}/events`, { 'last-event-id': 'abc' }), /got "abc"/u);
});

test('the event stream of an unknown task is 404', async () => {
  const response = await app.inject({ method: 'GET', url: '/api/task/0b6f3c1e-5d2a-4c8e-9f10-000000000000/events' });
  assert.equal(response.statusCode, 404);
  assert.equal((response.json() as { error: { code: string } }).error.code, 'E_NOT_FOUND');
});
