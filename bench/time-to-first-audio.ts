/**
 * Time to first audio: a 5,000-character text on the espeak engine (one host, so "the first
 * segment" is one segment on one host), streamed by GET /api/task/:id/stream (mp3, and wav: its
 * first audio byte is the one after the 44-byte header) and by POST /v1/audio/speech (mp3). Each
 * figure is the time from submitting the text to the first audio bytes at the client, beside the
 * baseline in the same run: the moment the first segment's synthesis ended (the engine pool's
 * segment timing, same clock), and the time to the whole result. Target: first bytes within the
 * first segment's synthesis + 50 ms. Medians of several runs, the three ways alternating.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/config.js';
import type { PoolEvent } from '../src/engines/engine-pool.js';
import { createLogger } from '../src/service/logger.js';
import { startService } from '../src/service/service.js';
import { sampleChineseText } from '../src/text/testing/sample-text.js';
import { median, printLines, type BenchLine } from './stats.js';

const TARGET_MS = 50;
const WAV_HEADER_BYTES = 44;

interface Run {
  /** From submitting to the end of the first segment's synthesis. */
  firstSegmentMs: number;
  /** The first segment's time on its host. */
  firstSegmentSynthesisMs: number;
  firstAudioMs: number;
  wholeMs: number;
}

type Way = 'stream mp3' | 'stream wav' | 'openai mp3';

export async function benchTimeToFirstAudio(runs = 5): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-first-audio-'));
  const segmentEnds: Array<{ startedAt: number; endedAt: number }> = [];
  const service = await startService(loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'espeak', ENGINE_HOSTS: '1', LOG_LEVEL: 'silent' }), {
    logger: createLogger('silent'),
    onPoolEvent: (event: PoolEvent) => {
      if (event.type === 'segment:end' && event.ok) segmentEnds.push({ startedAt: event.startedAt, endedAt: event.endedAt });
    },
  });
  const text = sampleChineseText(5_000);
  const results: Record<Way, Run[]> = { 'stream mp3': [], 'stream wav': [], 'openai mp3': [] };
  try {
    await service.enginesReady;
    let segments = 0;
    for (let run = -1; run < runs; run++) {
      for (const way of Object.keys(results) as Way[]) {
        segmentEnds.length = 0;
        const completed = new Promise<number>((resolve) => {
          const off = service.backend.subscribe((event) => {
            if (event.status === 'completed') {
              off();
              resolve(performance.now());
            }
          });
        });
        const started = performance.now();
        let response: Response;
        if (way === 'openai mp3') {
          response = await fetch(`${service.url}/v1/audio/speech`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input: text, response_format: 'mp3' }),
          });
        } else {
          const submitted = await fetch(`${service.url}/api/synthesis`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, format: 'wav' }) });
          const { id } = (await submitted.json()) as { id: string };
          response = await fetch(`${service.url}/api/task/${id}/stream?format=${way === 'stream wav' ? 'wav' : 'mp3'}`);
        }
        if (response.status !== 200) throw new Error(`${way}: ${response.status} ${await response.text()}`);
        const skip = way === 'stream wav' ? WAV_HEADER_BYTES : 0;
        let received = 0;
        let firstAudio: number | undefined;
        for await (const chunk of response.body!) {
          received += chunk.length;
          if (firstAudio === undefined && received > skip) firstAudio = performance.now();
        }
        const whole = await completed;
        const first = segmentEnds[0]!;
        segments = Math.max(segments, segmentEnds.length);
        // The first round warms up (JIT, the page cache): not counted.
        if (run >= 0) {
          results[way].push({
            firstSegmentMs: first.endedAt - started,
            firstSegmentSynthesisMs: first.endedAt - first.startedAt,
            firstAudioMs: firstAudio! - started,
            wholeMs: whole - started,
          });
        }
      }
    }
    const lines: BenchLine[] = (Object.keys(results) as Way[]).map((way) => {
      const list = results[way];
      const firstAudio = median(list.map((r) => r.firstAudioMs));
      const firstSegment = median(list.map((r) => r.firstSegmentMs));
      const beyond = median(list.map((r) => r.firstAudioMs - r.firstSegmentMs));
      const whole = median(list.map((r) => r.wholeMs));
      return {
        name: `${way}: first audio bytes after submitting`,
        value: `${firstAudio.toFixed(0)} ms (${beyond.toFixed(1)} ms after the first segment was synthesised)`,
        baseline: `first segment done at ${firstSegment.toFixed(0)} ms (its synthesis ${median(list.map((r) => r.firstSegmentSynthesisMs)).toFixed(0)} ms); whole result ${whole.toFixed(0)} ms`,
        ratio: `${(whole / firstAudio).toFixed(1)}× sooner than the whole result`,
        target: `≤ first segment + ${TARGET_MS} ms`,
        met: beyond <= TARGET_MS,
      };
    });
    printLines(`Time to first audio, 5,000 characters on espeak (1 host, ${segments} segments), median of ${runs} runs`, lines);
  } finally {
    await service.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
