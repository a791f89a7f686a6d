/**
 * Where the service keeps files: uploaded and normalised references, voices, finished
 * segments and results. Every path is built here from ids the service made itself; nothing
 * in a request ever becomes part of a path.
 */

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isStorageFull, storageFullError } from '../errors.js';
import { isNearlyFull } from './free-space.js';

/** Files the service stores. Engines and ffmpeg read local files, so every store hands out paths. */
export interface BlobStore {
  uploadPath(id: string): string;
  referencePath(taskId: string): string;
  voiceOriginalPath(voiceId: string): string;
  voiceReferencePath(voiceId: string, sampleRate: number): string;
  segmentPath(taskId: string, index: number): string;
  resultPath(taskId: string, extension: string): string;
  /** Creates the folder that will hold `path`; E_STORAGE_FULL when there is no room. */
  prepareFor(path: string): Promise<void>;
  /** True when the store has (nearly) no room left: a write that failed then is worth retrying later. */
  isFull(): Promise<boolean>;
  /** Removes a task's working files (its upload, reference and segments); the result stays. */
  removeTaskScratch(taskId: string): Promise<void>;
  removeVoice(voiceId: string): Promise<void>;
  remove(path: string): Promise<void>;
}

const ID = /^[0-9a-f-]{36}$/u;

function checkId(id: string): string {
  // Ids come from randomUUID(); anything else here is a programming error, never user input.
  if (!ID.test(id)) throw new Error(`not a service-made id: ${JSON.stringify(id)}`);
  return id;
}

/** A folder on local disk (DATA_DIR/blobs by default); a shared volume when scaled out. */
export class LocalBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  uploadPath(id: string): string {
    return join(this.root, 'uploads', checkId(id));
  }

  referencePath(taskId: string): string {
    return join(this.root, 'tasks', checkId(taskId), 'reference.wav');
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
    if (!/^[a-z0-9]{1,5}$/u.test(extension)) throw new Error(`bad extension ${extension}`);
    return join(this.root, 'results', `${checkId(taskId)}.${extension}`);
  }

  async prepareFor(path: string): Promise<void> {
    try {
      await mkdir(join(path, '..'), { recursive: true });
    } catch (error) {
      throw isStorageFull(error) ? storageFullError(error) : error;
    }
  }

  async isFull(): Promise<boolean> {
    return isNearlyFull(this.root);
  }

  async removeTaskScratch(taskId: string): Promise<void> {
    await rm(join(this.root, 'tasks', checkId(taskId)), { recursive: true, force: true });
    await rm(this.uploadPath(taskId), { force: true });
  }

  async removeVoice(voiceId: string): Promise<void> {
    await rm(join(this.root, 'voices', checkId(voiceId)), { recursive: true, force: true });
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }
}
