/**
 * `tts-queue say --server` against servers that are not the service, or lie: answers of the
 * wrong shape, bodies too large to hold, an event stream without line ends, audio of the wrong
 * type or size, progress past its total, a submission that never gets an answer. Each run ends
 * with a typed error (never E_INTERNAL and its stack), in bounded memory, and leaves no file.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../service/testing/test-service.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'hostile-server-test-'));
test.after(() => rm(dir, { recursive: true, force: true }));

const ID = 'a0000000-0000-4000-8000-000000000000';
/** More than any answer of the API, and enough to notice that the client read it all (the server stops there, so a client without a limit does not exhaust the machine). */
const FLOOD_BYTES = 64 * 1024 * 1024;
const WAV_BYTES = 100;

interface Route {
  synthesis?: (res: http.ServerResponse) => void;
  events?: (res: http.ServerResponse) => void;
  task?: (res: http.ServerResponse) => void;
  audio?: (res: http.ServerResponse) => void;
}

const json = (status: number, body: unknown) => (res: http.ServerResponse) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const completedTask = {
  id: ID,
  status: 'completed',
  progress: { segments_done: 1, segments_total: 1 },
  attempts: 1,
  error: null,
  result: { format: 'wav', duration_ms: 1000, bytes: WAV_BYTES, sample_rate: 24000 },
};
const completedEvent = 'event: status\ndata: {"type":"status","status":"completed","segments_done":1,"segments_total":1,"error":null}\n\n';

/** Writes `head`, then `fill` up to FLOOD_BYTES; `flood.finished` says whether the client took it all. */
function flood(status: number, contentType: string, head = '', fill = 'a') {
  const state = { finished: false, serve: (_res: http.ServerResponse) => {} };
  state.serve = (res) => {
    res.writeHead(status, { 'content-type': contentType });
    res.write(head);
    const chunk = fill.repeat(1024 * 1024);
    let sent = 0;
    const write = (): void => {
      while (sent < FLOOD_BYTES) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', write);
      }
      res.end(() => (state.finished = true));
    };
    res.on('error', () => undefined);
    write();
  };
  return state;
}

/** A server that answers as `route` says, and as a completed task by default. */
async function withServer(route: Route, run: (url: string) => Promise<void>): Promise<void> {
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (req.method === 'POST' && url === '/api/synthesis') return void (route.synthesis ?? json(202, { id: ID }))(res);
    if (url.endsWith('/events')) return void (route.events ?? ((r) => r.writeHead(200, { 'content-type': 'text/event-stream' }).end(completedEvent)))(res);
    if (url.endsWith('/audio')) return void (route.audio ?? ((r) => r.writeHead(200, { 'content-type': 'audio/wav' }).end(Buffer.alloc(WAV_BYTES))))(res);
    if (url === `/api/task/${ID}`) return void (route.task ?? json(200, completedTask))(res);
    if (req.method === 'DELETE') return void json(200, completedTask)(res);
    res.writeHead(404).end();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

interface Run {
  code: number | null;
  stderr: string;
}

/** Runs `say` with a heap small enough that holding a flood in memory fails the run. */
function say(server: string, out: string, options: { onSpawn?: (child: import('node:child_process').ChildProcess) => void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.TTS_QUEUE_KEY;
    const child = spawn(process.execPath, ['--max-old-space-size=96', CLI, 'say', 'Hello there.', '--server', server, '--out', out], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    child.on('close', (code) => resolve({ code, stderr }));
    options.onSpawn?.(child);
  });
}

/** Runs `say` and expects a typed error other than E_INTERNAL, exit 5, and no file at all. */
async function refused(name: string, route: Route, message: RegExp): Promise<void> {
  await withServer(route, async (url) => {
    const out = join(dir, `${name}.wav`);
    const run = await say(url, out);
    assert.doesNotMatch(run.stderr, /E_INTERNAL|TypeError|RangeError|\n {4}at /u, run.stderr);
    assert.match(run.stderr, message, run.stderr);
    assert.equal(run.code, 5, run.stderr);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith(name)),
      [],
      'no file, whole or partial',
    );
  });
}

test('answers of the wrong shape are E_SERVER_RESPONSE, not a crash', async () => {
  await refused('id-null', { synthesis: json(202, null) }, /E_SERVER_RESPONSE: POST \/api\/synthesis answered without a task id/u);
  await refused('id-number', { synthesis: json(202, { id: 5 }) }, /E_SERVER_RESPONSE: POST \/api\/synthesis answered without a task id/u);
  await refused('error-wrong', { synthesis: json(400, { error: { code: { a: 1 }, message: 5 } }) }, /E_SERVER_RESPONSE: .*answered 400 .*without an API error/u);
  const sse = (data: string) => (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(`event: status\ndata: ${data}\n\n`);
  await refused('event-null', { events: sse('null') }, /E_SERVER_RESPONSE: The event stream sent an event that is not a task's status/u);
  await refused('event-fields', { events: sse('{"type":"status","status":"running","segments_done":"1","segments_total":[]}') }, /E_SERVER_RESPONSE: The event stream sent an event/u);
  await refused(
    'event-failed-weird',
    { events: sse('{"type":"status","status":"failed","segments_done":0,"segments_total":1,"error":{"code":{"a":1},"message":5}}') },
    /E_SERVER_RESPONSE: The event stream sent an event/u,
  );
  await refused('task-null', { task: json(200, null) }, /E_SERVER_RESPONSE: GET \/api\/task\/.* answered with something other than a task/u);
  await refused('task-progress-null', { task: json(200, { ...completedTask, progress: null }) }, /E_SERVER_RESPONSE: GET \/api\/task\/.* answered with something other than a task/u);
  await refused('task-result-empty', { task: json(200, { ...completedTask, result: {} }) }, /E_SERVER_RESPONSE: GET \/api\/task\/.* answered with something other than a task/u);
});

test('answers too large to be the API are refused unread, in bounded memory', async () => {
  const hugeId = flood(202, 'application/json', '{"id":"');
  await refused('huge-json', { synthesis: hugeId.serve }, /E_SERVER_RESPONSE: .*larger than/u);
  assert.equal(hugeId.finished, false, 'the client stopped reading');
  const hugeError = flood(500, 'application/json', '{"error":{"code":"E_INTERNAL","message":"');
  await refused('huge-error', { synthesis: hugeError.serve }, /E_SERVER_RESPONSE: .*answered 500 .*without an API error/u);
  assert.equal(hugeError.finished, false, 'the client stopped reading');
  const hugeTask = flood(200, 'application/json', '{"id":"');
  await refused('huge-task', { task: hugeTask.serve }, /E_SERVER_RESPONSE: .*larger than/u);
  // An event stream without a line end: the line would grow for ever.
  const endless = flood(200, 'text/event-stream', 'data: ');
  await refused('endless-line', { events: endless.serve }, /E_SERVER_RESPONSE: The event stream sent a line longer than/u);
  assert.equal(endless.finished, false, 'the client stopped reading');
  // Lines of data without the empty line that ends an event.
  const endlessEvent = flood(200, 'text/event-stream', '', 'data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n');
  await refused('endless-event', { events: endlessEvent.serve }, /E_SERVER_RESPONSE: The event stream sent an event larger than/u);
  assert.equal(endlessEvent.finished, false, 'the client stopped reading');
});

test('audio of the wrong type or size is refused and not written', async () => {
  await refused('audio-html', { audio: (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sign in</body></html>') }, /E_SERVER_RESPONSE: .*text\/html.* not audio/u);
  await refused('audio-short', { audio: (res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(Buffer.alloc(WAV_BYTES - 1)) }, /E_SERVER_RESPONSE: .*99 bytes.*100/u);
  const endless = flood(200, 'audio/wav', '', '\0');
  await refused('audio-endless', { audio: endless.serve }, /E_SERVER_RESPONSE: .*more than the 100 bytes/u);
  assert.equal(endless.finished, false, 'the client stopped reading');
});

test('progress past its total (a lying server) is drawn full, not a crash', async () => {
  const events = (res: http.ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`event: progress\ndata: {"type":"progress","status":"running","segments_done":5,"segments_total":3,"error":null}\n\n${completedEvent}`);
  };
  await withServer({ events }, async (url) => {
    const out = join(dir, 'overdone.wav');
    const command = [process.execPath, CLI, 'say', 'Hello there.', '--server', url, '--out', out].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    // On a pseudo-terminal (util-linux `script`), where the bar is drawn.
    const run = await new Promise<Run>((resolve) => {
      const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /\[#{30}\] 5\/3 segments/u);
  });
});

test('an interrupt while the submission waits for an answer ends the run at once', async () => {
  let requested = false;
  // Headers never come.
  const hang = (): void => {
    requested = true;
  };
  await withServer({ synthesis: hang }, async (url) => {
    let child: import('node:child_process').ChildProcess | undefined;
    const run = say(url, join(dir, 'hung.wav'), {
      onSpawn: (c) => {
        child = c;
      },
    });
    await waitUntil(() => requested, 'the submission');
    child!.kill('SIGINT');
    // A client that ignored the interrupt would wait minutes for the answer: it is stopped here, and fails below.
    const stuck = setTimeout(() => child!.kill('SIGKILL'), 15_000);
    const { code, stderr } = await run;
    clearTimeout(stuck);
    assert.equal(code, 130, stderr);
    assert.match(stderr, /E_CANCELED: Interrupted before the service answered/u);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('hung')),
      [],
    );
  });
});
