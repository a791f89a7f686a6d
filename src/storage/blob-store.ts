/**
 * Where the service keeps files: uploaded and normalised references, voices, finished
 * segments and results. Every path is built here from ids the service made itself; nothing
 * in a request ever becomes part of a path.
 *
 * Engines and ffmpeg read local files, so a store hands out paths on this machine. With several
 * machines a file written on one is read on another, hence two explicit steps: `save` after a
 * file is written (it becomes readable on every node), `load` before one is read (it is made
 * present here). A path recorded by one node may be handed to another node's store: the store
 * finds the file by the part of the path below its root, its key.
 */

import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { TtsError } from '../errors.js';

/** A stored file to answer a download with. */
export type StoredDownload =
  /** A file on this machine: served as a file (Range, ETag, 304 by `@fastify/send`). */
  | { kind: 'file'; path: string }
  /** An object in a remote store: the HTTP layer decides the answer from these validators, then reads the bytes it needs. */
  | { kind: 'object'; size: number; etag: string; lastModified: Date; open(range?: { start: number; end: number }): Promise<Readable> };

/** Files the service stores. */
export interface BlobStore {
  uploadPath(id: string): string;
  /** The task's normalised reference, at the rate its engine takes. */
  referencePath(taskId: string, sampleRate: number): string;
  /** A task's copy of a part's stored voice, at the rate its engine takes (tasks with parts). */
  partVoicePath(taskId: string, voiceId: string, sampleRate: number): string;
  voiceOriginalPath(voiceId: string): string;
  voiceReferencePath(voiceId: string, sampleRate: number): string;
  segmentPath(taskId: string, index: number): string;
  resultPath(taskId: string, extension: string): string;
  /** The result's timeline (JSON of TimelineEntry[]), kept beside the result and deleted with it. */
  timelinePath(taskId: string): string;
  /** The result while it is encoded before its last segment is done (worker/early-assembly.ts): a working file of this machine, never saved, removed with the task's scratch. */
  encodingPath(taskId: string, extension: string): string;
  /** Creates the folder that will hold `path`; E_STORAGE_FULL when there is no room. */
  prepareFor(path: string): Promise<void>;
  /** After writing `path`: makes it readable from every node (a shared folder: nothing to do). */
  save(path: string): Promise<void>;
  /**
   * Before reading a stored file (`path` may come from another node): the path on this machine
   * that holds it. E_STORED_FILE_MISSING when the store does not have it.
   */
  load(path: string): Promise<string>;
  /** The file to answer a download with; undefined when it is not stored (a remote store checks; a local file is checked as it is sent). */
  openForDownload(path: string): Promise<StoredDownload | undefined>;
  /** True when the store has (nearly) no room left: a write that failed then is worth retrying later. */
  isFull(): Promise<boolean>;
  /** Removes a task's working files (its upload, reference and segments) everywhere; the result stays. */
  removeTaskScratch(taskId: string): Promise<void>;
  removeVoice(voiceId: string): Promise<void>;
  /** Removes one file everywhere (missing already: nothing to do). */
  remove(path: string): Promise<void>;
}

const ID_PATTERN = '[0-9a-f-]{36}';
const ID = new RegExp(`^${ID_PATTERN}$`, 'u');

/** A stored file's key: its path below the store's root, in one of the shapes `BlobLayout` makes (and `reference.wav`, a task's reference before it named its rate). */
const KEY = new RegExp(
  `(?:^|/)((?:uploads/${ID_PATTERN})|(?:tasks/${ID_PATTERN}/(?:reference(?:-\\d{1,6})?|voice-${ID_PATTERN}-\\d{1,6}|segment-\\d{6,})\\.wav)|(?:voices/${ID_PATTERN}/(?:original|reference-\\d{1,6}\\.wav))|(?:results/${ID_PATTERN}(?:\\.timeline\\.json|\\.[a-z0-9]{1,5})))$`,
  'u',
);

export function checkId(id: string): string {
  // Ids come from randomUUID(); anything else here is a programming error, never user input.
  if (!ID.test(id)) throw new Error(`not a service-made id: ${JSON.stringify(id)}`);
  return id;
}

/** An output format's file extension (audio/output.ts), never user input. */
function checkExtension(extension: string): string {
  if (!/^[a-z0-9]{1,5}$/u.test(extension)) throw new Error(`bad extension ${extension}`);
  return extension;
}

/** The key of a stored file's path (made by any node's store, whatever its root); throws for any other path. */
export function keyOf(path: string): string {
  const match = KEY.exec(path);
  if (match === null) throw new Error(`not a path of the blob store: ${JSON.stringify(path)}`);
  return match[1]!;
}

export function storedFileMissing(cause?: unknown): TtsError {
  return new TtsError('E_STORED_FILE_MISSING', 'A file the service stored is no longer in the blob store; submit the task again.', { cause });
}

/** The folder layout both stores share: a local store's files, an object store's keys and its local cache. */
export abstract class BlobLayout {
  constructor(readonly root: string) {}

  uploadPath(id: string): string {
    return join(this.root, 'uploads', checkId(id));
  }

  referencePath(taskId: string, sampleRate: number): string {
    return join(this.root, 'tasks', checkId(taskId), `reference-${Math.trunc(sampleRate)}.wav`);
  }

  partVoicePath(taskId: string, voiceId: string, sampleRate: number): string {
    return join(this.root, 'tasks', checkId(taskId), `voice-${checkId(voiceId)}-${Math.trunc(sampleRate)}.wav`);
  }

  voiceOriginalPath(voiceId: string): string {
    return join(this.root, 'voices', checkId(voiceId), 'original');
  }

  voiceReferencePath(voiceId: string, sampleRate: number): string {
    return join(this.root, 'voices', checkId(voiceId), `reference-${Math.trunc(sampleRate)}.wav`);
  }

  segmentPath(taskId: string, index: number): string {
    return join(this.root, 'tasks', checkId(taskId), `segment-${String(Math.trunc(index)).padStart(6, '0')}.wav`);
  }

  resultPath(taskId: string, extension: string): string {
    return join(this.root, 'results', `${checkId(taskId)}.${checkExtension(extension)}`);
  }

  timelinePath(taskId: string): string {
    return join(this.root, 'results', `${checkId(taskId)}.timeline.json`);
  }

  encodingPath(taskId: string, extension: string): string {
    return join(this.root, 'tasks', checkId(taskId), `result.${checkExtension(extension)}.partial`);
  }

  /** Where the file of `path` (possibly another node's) is on this machine. */
  protected localPath(path: string): string {
    return join(this.root, keyOf(path));
  }
}
