/**
 * The baseline for the service benchmarks: the article's design written from its description.
 * Express, tasks in an in-memory Map, an array as the queue, one task at a time, a NEW engine
 * process per task, and `setTimeout(processNext, 100)` between tasks. The engine is the same
 * `bench-sleep` host our service uses, so only the orchestration differs.
 *
 * Run: `node dist/bench/baseline/article-server.js` (env PORT, default 3100; HOST, default
 * 127.0.0.1; BENCH_SLEEP_COST_MS passed through to the engine host).
 *
 * Instrumented for benchmarks: `GET /debug/engine-timeline` gives, for each task, the interval
 * during which the engine worked on it, the first claim from the queue and the last completion.
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type Request, type Response } from 'express';
import { EngineHost } from '../../src/engines/engine-host.js';
import { hostSpec } from '../../src/engines/registry.js';

type TaskStatus = 'pending' | 'processing' | 'completed' | 'failed';

interface Task {
  id: string;
  status: TaskStatus;
  text: string;
  audio_url?: string;
  createdAt: string;
  completedAt?: string;
  error?: string;
}

interface Interval {
  start: number;
  end: number;
}

/** Milliseconds on the wall clock, with sub-millisecond precision. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

const tasks = new Map<string, Task>();
const audioFiles = new Map<string, string>();
const queue: string[] = [];
const outDir = mkdtempSync(join(tmpdir(), 'article-baseline-'));
const engineEnv = { BENCH_SLEEP_COST_MS: process.env.BENCH_SLEEP_COST_MS ?? '0' };

const timeline = { intervals: [] as Interval[], firstClaim: null as number | null, lastCompletion: null as number | null, settled: 0 };
let working = false;
let stopping = false;
let current: Promise<void> | undefined;

/** One task, start to end, through a fresh engine process (the article's way). */
async function runTask(task: Task): Promise<void> {
  const outPath = join(outDir, `${task.id}.wav`);
  const host = new EngineHost(hostSpec('bench-sleep', engineEnv));
  try {
    await host.start();
    const start = now();
    try {
      await host.synthesize({ text: task.text, outPath }, { timeoutMs: 600_000 });
    } finally {
      timeline.intervals.push({ start, end: now() });
    }
    await host.close();
    audioFiles.set(task.id, outPath);
    task.status = 'completed';
  } catch (error) {
    await host.close().catch(() => undefined);
    task.status = 'failed';
    task.error = error instanceof Error ? error.message : String(error);
  }
  task.completedAt = new Date().toISOString();
  timeline.lastCompletion = now();
  timeline.settled++;
}

function processNext(): void {
  const id = queue.shift();
  const task = id === undefined ? undefined : tasks.get(id);
  if (task === undefined || stopping) {
    working = false;
    return;
  }
  working = true;
  timeline.firstClaim ??= now();
  task.status = 'processing';
  current = runTask(task).finally(() => {
    current = undefined;
    setTimeout(processNext, 100);
  });
}

function createTask(req: Request, res: Response): void {
  const body = (req.body ?? {}) as { text?: unknown; audio_url?: unknown };
  if (typeof body.text !== 'string' || body.text.trim() === '') {
    res.status(400).json({ error: 'text must be a non-empty string' });
    return;
  }
  if (body.audio_url !== undefined && typeof body.audio_url !== 'string') {
    res.status(400).json({ error: 'audio_url must be a string' });
    return;
  }
  const task: Task = { id: randomUUID(), status: 'pending', text: body.text, createdAt: new Date().toISOString() };
  if (body.audio_url !== undefined) task.audio_url = body.audio_url;
  tasks.set(task.id, task);
  queue.push(task.id);
  if (!working) processNext();
  // As in the article: answered at once, from memory. Nothing is durable; a restart loses every task.
  res.status(202).json({ id: task.id, status: 'pending' });
}

function getTask(req: Request<{ id: string }>, res: Response): void {
  const task = tasks.get(req.params.id);
  if (task === undefined) res.status(404).json({ error: 'task not found' });
  else res.json(task);
}

function getAudio(req: Request<{ id: string }>, res: Response): void {
  const task = tasks.get(req.params.id);
  const file = audioFiles.get(req.params.id);
  if (task === undefined) res.status(404).json({ error: 'task not found' });
  else if (task.status !== 'completed' || file === undefined) res.status(409).json({ error: `task is ${task.status}` });
  else res.sendFile(file);
}

function createApp(): express.Express {
  const app = express();
  app.use(express.json());
  app.post('/api/synthesis', createTask);
  app.get('/api/task/:id', getTask);
  app.get('/api/task/:id/audio', getAudio);
  app.get('/debug/engine-timeline', (_req, res) => {
    res.json(timeline);
  });
  // Malformed JSON and the like: a short JSON answer instead of Express's logged HTML page.
  app.use((error: { status?: number; message?: string }, _req: Request, res: Response, _next: express.NextFunction) => {
    res.status(error.status ?? 500).json({ error: error.message ?? 'internal error' });
  });
  return app;
}

function shutdown(server: Server): void {
  stopping = true;
  server.close();
  server.closeAllConnections();
  void (current ?? Promise.resolve()).finally(() => {
    rmSync(outDir, { recursive: true, force: true });
    process.exit(0);
  });
}

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 3100);
const server = createApp().listen(port, host, () => {
  console.log(`listening on http://${host}:${port}`);
});
process.once('SIGTERM', () => shutdown(server));
process.once('SIGINT', () => shutdown(server));
