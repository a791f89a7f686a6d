/**
 * How a task's segments relate to its parts: the voice each is spoken with, the silence after
 * each, and where chapters start. Assembly and a stream of the task's audio both read it here,
 * so the stream and the result stay the same.
 */

import type { PreparedReference, TaskRecord } from '../backends/backend.js';

/** The reference a segment is spoken with: its part's voice, else the task's. */
export function segmentReference(task: TaskRecord, index: number): PreparedReference | undefined {
  const part = task.segmentParts === undefined ? undefined : task.request.parts?.[task.segmentParts[index]!];
  const reference = part?.voiceId === undefined ? task.reference : task.references?.[part.voiceId];
  if (reference === undefined || part?.promptText === undefined) return reference;
  return { ...reference, promptText: part.promptText };
}

/** The silence after segment `index`: its part's `pause_ms` after the part's last segment, else `pauseMs`. */
export function pauseAfter(task: TaskRecord, index: number, pauseMs: number): number {
  const of = task.segmentParts;
  if (of === undefined || of[index + 1] === of[index]) return pauseMs;
  return task.request.parts?.[of[index]!]?.pauseMs ?? pauseMs;
}

/**
 * The silence after each segment (its part's `pause_ms` after the part's last segment, else
 * `pauseMs`) and the chapters by their first segment: what the result and a stream of it share.
 */
export function segmentLayout(task: TaskRecord, count: number, pauseMs: number): { pausesAfterMs: number[]; chapterStarts: Array<{ title: string; segment: number }> } {
  const parts = task.request.parts;
  const of = task.segmentParts;
  const pausesAfterMs: number[] = [];
  const chapterStarts: Array<{ title: string; segment: number }> = [];
  for (let i = 0; i < count; i++) {
    const part = of === undefined ? undefined : parts?.[of[i]!];
    pausesAfterMs.push(pauseAfter(task, i, pauseMs));
    const firstOfPart = of !== undefined && (i === 0 || of[i - 1] !== of[i]);
    if (firstOfPart && part?.chapter !== undefined) chapterStarts.push({ title: part.chapter, segment: i });
  }
  return { pausesAfterMs, chapterStarts };
}
