/** A completed task's subtitles, made from the timeline stored beside its result (text/subtitles.ts). */

import { readFile } from 'node:fs/promises';
import type { TaskRecord, TimelineEntry } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import { SUBTITLE_FORMATS, buildCues, type SubtitleFormat } from '../text/subtitles.js';

const expired = (): TtsError => new TtsError('E_RESULT_EXPIRED', 'The audio and its subtitles were deleted after the retention period; submit the task again.');

/** Subtitles made before, by timeline path and format: a timeline never changes once written. */
export interface SubtitlesCache {
  get(key: string): string | undefined;
  set(key: string, value: string): unknown;
}

/**
 * The task's subtitles in `format`: refused before completion (E_TASK_NOT_READY), after expiry
 * (E_RESULT_EXPIRED), and for a result kept without a timeline. A book's take a few hundred ms
 * to make (docs/benchmarks.md), so the API keeps the last few in `cache`.
 */
export async function taskSubtitles(task: TaskRecord, blobs: BlobStore, format: SubtitleFormat, cache?: SubtitlesCache): Promise<string> {
  if (task.status !== 'completed' || task.result === undefined) {
    throw new TtsError('E_TASK_NOT_READY', `The task is ${task.status}; its subtitles are there once it is completed (GET /api/task/${task.id}).`);
  }
  if (task.expired) throw expired();
  const { timelinePath } = task.result;
  if (timelinePath === undefined) throw new TtsError('E_SUBTITLES_UNAVAILABLE', 'This result was made before the service kept timelines; submit the task again with "reuse": false for subtitles.');
  const key = `${format}:${timelinePath}`;
  const cached = cache?.get(key);
  if (cached !== undefined) return cached;
  let timeline: TimelineEntry[];
  try {
    timeline = JSON.parse(await readFile(await blobs.load(timelinePath), 'utf8')) as TimelineEntry[];
  } catch (error) {
    // Deleted with its result between the look-up and the read.
    if ((error instanceof TtsError && error.code === 'E_STORED_FILE_MISSING') || (error as NodeJS.ErrnoException).code === 'ENOENT') throw expired();
    throw error;
  }
  const body = SUBTITLE_FORMATS[format].write(buildCues(timeline));
  cache?.set(key, body);
  return body;
}
