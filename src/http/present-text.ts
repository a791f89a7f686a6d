/** The body of GET /api/task/:id/text: the text a task reads, part by part, with its chapters. */

import { readFile } from 'node:fs/promises';
import type { Static } from '@sinclair/typebox';
import type { TaskRecord, TextPart } from '../backends/backend.js';
import { documentTextPath, partsText } from '../documents/types.js';
import { TtsError } from '../errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { TaskTextBody } from './schemas.js';

type TaskText = Static<typeof TaskTextBody>;

/** A `document_url` task's parts, stored when it was prepared; undefined before that. */
async function readStoredParts(task: TaskRecord, blobs: BlobStore): Promise<{ kind: string; title?: string; parts: TextPart[] } | undefined> {
  try {
    return JSON.parse(await readFile(await blobs.load(documentTextPath(blobs, task.id)), 'utf8')) as { kind: string; title?: string; parts: TextPart[] };
  } catch {
    return undefined;
  }
}

export async function presentTaskText(task: TaskRecord, blobs: BlobStore): Promise<TaskText> {
  const { request } = task;
  let parts: TextPart[] = request.parts ?? [{ text: request.text }];
  let source: TaskText['source'] = request.document !== undefined ? 'document' : request.parts !== undefined ? 'parts' : 'text';
  let title: string | undefined;
  let document: TaskText['document'] = request.document === undefined ? undefined : { ...request.document };
  if (request.documentUrl !== undefined) {
    source = 'document_url';
    const stored = await readStoredParts(task, blobs);
    if (stored === undefined) {
      throw new TtsError('E_TASK_NOT_READY', `The task is ${task.status}; a \`document_url\` is read when the task is prepared, and its text is here from then on.`);
    }
    parts = stored.parts;
    title = stored.title;
    document = { kind: stored.kind, url: request.documentUrl };
  }
  const body: TaskText = {
    id: task.id,
    source,
    text: request.documentUrl !== undefined || request.parts !== undefined ? partsText(parts) : request.text,
    parts: parts.map((part) => {
      const out: TaskText['parts'][number] = { text: part.text };
      if (part.chapter !== undefined) out.chapter = part.chapter;
      if (part.pauseMs !== undefined) out.pause_ms = part.pauseMs;
      if (part.voiceId !== undefined) out.voice_id = part.voiceId;
      return out;
    }),
    chapters: parts.flatMap((part, index) => (part.chapter === undefined ? [] : [{ title: part.chapter, part: index }])),
  };
  if (title !== undefined) body.title = title;
  if (document !== undefined) body.document = document;
  return body;
}
