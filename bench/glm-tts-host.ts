/**
 * GLM-TTS: one long-lived host versus a new process per task (the article's way). A SIMULATION:
 * both run the test double of GLM-TTS (python/testing/glmtts_double/), whose model load and
 * per-chunk cost are sleeps standing in for GPU time. Real costs are 90 s to load and 3 s per
 * segment; the run scales both down by SCALE so it ends in minutes, and reports simulated
 * seconds (measured ÷ SCALE) beside the measured ones. Process start-up and protocol costs are
 * real and not scaled, so in simulated seconds they weigh 1/SCALE times more than they would
 * beside a real model; the per-task way starts 50 processes against the host's one, so this
 * inflates its figure somewhat. The ideal figures printed below are free of it.
 *
 * GPU busy = time inside the double's model calls ÷ wall time, from a cold start.
 */

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnginePool } from '../src/engines/engine-pool.js';
import { hostSpec } from '../src/engines/registry.js';
import { makeGlmttsDouble, type DoubleCall } from '../src/engines/testing/glmtts-double.js';
import { makeReferenceVoice } from '../src/engines/testing/reference-voice.js';
import { printLines } from './stats.js';

const LOAD_SECONDS = 90;
const SEGMENT_SECONDS = 3;
const TASKS = 50;
const SEGMENTS_PER_TASK = 3;
const SCALE = Number(process.env.GLM_BENCH_SCALE ?? 1 / 60);

// Each sentence is over 30 characters, so GLM-TTS (and its double) makes it one chunk of its own
// on both paths: the script's joined text and the host's one-sentence segments.
const taskText = (task: number): string[] => Array.from({ length: SEGMENTS_PER_TASK }, (_, i) => `第${task}个任务的第${i}句，这句话在测试里写得足够长，好让它自成一个文本块。`);

/** Wall time and the share of it the "GPU" (the double's model calls) was busy. */
function busyFraction(calls: DoubleCall[], startedAt: number, endedAt: number): number {
  const busy = calls.filter((c) => c.call === 'gpu').reduce((sum, c) => sum + ((c.end as number) - (c.start as number)), 0);
  return busy / ((endedAt - startedAt) / 1000);
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}`))));
  });
}

export async function benchGlmTtsHost(): Promise<void> {
  const env = { GLMTTS_DOUBLE_LOAD_SECONDS: String(LOAD_SECONDS * SCALE), GLMTTS_DOUBLE_CHUNK_SECONDS: String(SEGMENT_SECONDS * SCALE) };
  const scratch = await mkdtemp(join(tmpdir(), 'bench-glm-'));
  const voice = await makeReferenceVoice(scratch, 'voice', { sampleRate: 24_000 });

  // Through the host: loaded once, segments fed as soon as it is free (as the worker does).
  const hostDouble = await makeGlmttsDouble(env);
  const hostStart = Date.now();
  const pool = new EnginePool({ spec: hostSpec('glm-tts', hostDouble.env), size: 1 });
  await pool.start();
  let segment = 0;
  await Promise.all(Array.from({ length: TASKS }, (_, task) => Promise.all(taskText(task).map((text) => pool.synthesize({ text, outPath: join(scratch, `host-${segment++}.wav`), voice })))));
  const hostEnd = Date.now();
  await pool.close();
  const hostBusy = busyFraction(await hostDouble.calls(), hostStart, hostEnd);

  // The article's way: the official script started for each task, loading the model each time.
  const perTaskDouble = await makeGlmttsDouble(env);
  await mkdir(join(perTaskDouble.repo, 'examples'), { recursive: true });
  const perTaskStart = Date.now();
  for (let task = 0; task < TASKS; task++) {
    const name = `bench_task_${task}`;
    const item = { uttid: `task${task}`, prompt_text: voice.promptText, prompt_speech: voice.audioPath, syn_text: taskText(task).join('') };
    await writeFile(join(perTaskDouble.repo, 'examples', `${name}.jsonl`), `${JSON.stringify(item)}\n`);
    await run('python3', ['glmtts_inference.py', `--data=${name}`], perTaskDouble.repo, perTaskDouble.env);
  }
  const perTaskEnd = Date.now();
  const perTaskBusy = busyFraction(await perTaskDouble.calls(), perTaskStart, perTaskEnd);

  const simulated = (ms: number) => `${(ms / 1000 / SCALE).toFixed(0)} s simulated (${(ms / 1000).toFixed(1)} s measured)`;
  const hostMs = hostEnd - hostStart;
  const perTaskMs = perTaskEnd - perTaskStart;
  printLines(
    `GLM-TTS host vs a process per task (SIMULATION: test double, load ${LOAD_SECONDS} s, ${SEGMENT_SECONDS} s per segment, ${TASKS} tasks × ${SEGMENTS_PER_TASK} segments, time scale 1/${Math.round(1 / SCALE)})`,
    [
      { name: 'total time, one host', value: simulated(hostMs), baseline: simulated(perTaskMs), ratio: `${(perTaskMs / hostMs).toFixed(1)}× faster`, target: null, met: null },
      {
        name: 'GPU busy, one host',
        value: `${(hostBusy * 100).toFixed(1)} %`,
        baseline: `${(perTaskBusy * 100).toFixed(1)} %`,
        ratio: `${(hostBusy / perTaskBusy).toFixed(1)}×`,
        target: null,
        met: null,
      },
    ],
  );
  const work = TASKS * SEGMENTS_PER_TASK * SEGMENT_SECONDS;
  const idealHost = LOAD_SECONDS + work;
  const idealPerTask = TASKS * LOAD_SECONDS + work;
  console.log(
    `  (no overhead at all: one host ${idealHost} s, ${((100 * work) / idealHost).toFixed(1)} % busy; a process per task ${idealPerTask} s, ${((100 * work) / idealPerTask).toFixed(1)} % busy)`,
  );
  await Promise.all([hostDouble.remove(), perTaskDouble.remove(), rm(scratch, { recursive: true, force: true })]);
}
