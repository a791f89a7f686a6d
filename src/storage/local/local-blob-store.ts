/**
 * A folder on local disk (DATA_DIR/blobs by default). Scaled out, the folder is a shared volume
 * (NFS, a ReadWriteMany claim) mounted on every node: a file written is already where every
 * node reads it, so saving costs nothing and loading is one stat.
 */

import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isStorageFull, storageFullError } from '../../errors.js';
import { isNearlyFull } from '../free-space.js';
import { BlobLayout, type BlobStore, type StoredDownload, checkId, storedFileMissing } from '../blob-store.js';

export class LocalBlobStore extends BlobLayout implements BlobStore {
  async prepareFor(path: string): Promise<void> {
    try {
      await mkdir(join(path, '..'), { recursive: true });
    } catch (error) {
      throw isStorageFull(error) ? storageFullError(error) : error;
    }
  }

  async save(path: string): Promise<void> {
    this.localPath(path); // only checks that it is one of ours: the file is in place already
  }

  async load(path: string): Promise<string> {
    const local = this.localPath(path);
    try {
      await stat(local);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw storedFileMissing(error);
      throw error;
    }
    return local;
  }

  async openForDownload(path: string): Promise<StoredDownload> {
    return { kind: 'file', path: this.localPath(path) };
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
    await rm(this.localPath(path), { force: true });
  }
}
