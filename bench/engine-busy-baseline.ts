/**
 * How busy the engine is in the article's design (bench/baseline/article-server.ts) with a full
 * queue: the share of the time from the first claim to the last completion during which an
 * engine was synthesising, and the idle gaps between tasks (new process, shutdown, the 100 ms
 * pause). This is the baseline our service's engine-busy figure is compared against.
 */

import { startBaselineServer, stopServer } from './http-throughput.js';

interface EngineTimeline {
  intervals: { start: number; end: number }[];
  firstClaim: number | null;
  lastCompletion: number | null;
  settled: number;
}

async function readTimeline(url: string): Promise<EngineTimeline> {
  const res = await fetch(`${url}/debug/engine-timeline`);
  if (res.status !== 200) throw new Error(`GET /debug/engine-timeline answered ${res.status}`);
  return (await res.json()) as EngineTimeline;
}

async function postTasks(url: string, tasks: number): Promise<void> {
  for (let i = 1; i <= tasks; i++) {
    const res = await fetch(`${url}/api/synthesis`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `第${i}句话。` }),
    });
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`POST /api/synthesis answered ${res.status}`);
  }
}

/** Polls the timeline every 250 ms until `tasks` tasks are settled (completed or failed). */
async function waitForTasks(url: string, tasks: number, timeoutMs: number): Promise<EngineTimeline> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const timeline = await readTimeline(url);
    if (timeline.settled >= tasks) return timeline;
    if (performance.now() > deadline) throw new Error(`only ${timeline.settled} of ${tasks} tasks settled within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function measureBaselineEngineBusy(tasks = 200, costMs = 200): Promise<{ busyFraction: number; gapsMs: number[]; totalMs: number }> {
  const server = await startBaselineServer(costMs);
  try {
    await postTasks(server.url, tasks);
    const timeline = await waitForTasks(server.url, tasks, 60_000 + tasks * (costMs + 2_000));
    if (timeline.intervals.length !== tasks) throw new Error(`${timeline.intervals.length} engine intervals for ${tasks} tasks: some tasks failed before the engine was ready`);
    if (timeline.firstClaim === null || timeline.lastCompletion === null) throw new Error('the timeline has no first claim or last completion');
    const intervals = [...timeline.intervals].sort((a, b) => a.start - b.start);
    const totalMs = timeline.lastCompletion - timeline.firstClaim;
    const busyMs = intervals.reduce((sum, { start, end }) => sum + (end - start), 0);
    const gapsMs = intervals.slice(1).map((next, i) => next.start - intervals[i]!.end);
    return { busyFraction: busyMs / totalMs, gapsMs, totalMs };
  } finally {
    await stopServer(server);
  }
}
