/**
 * Files in an S3-compatible object store (BLOB_STORE=s3), for nodes that share no folder. Engines
 * and ffmpeg still read local files, so a local folder (BLOB_DIR) holds copies of the files in
 * use: `save` uploads a file written here, `load` downloads one another node wrote. Downloads
 * of results are streamed from the store by range, never copied here first.
 *
 * Stored files never change once saved (each name says what it holds: a reference names its
 * rate), so a copy here is as good as the object for as long as it exists. Copies unused for a
 * while are removed, so a worker's folder does not fill with the segments of tasks another
 * worker assembled.
 */

import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { TtsError, isStorageFull, storageFullError } from '../../errors.js';
import { isNearlyFull } from '../free-space.js';
import { BlobLayout, type BlobStore, type StoredDownload, checkId, keyOf, storedFileMissing } from '../blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Prepended to every key (a folder in the bucket, so deployments can share one). */
  prefix: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** The local folder for the copies of files in use (BLOB_DIR). */
  cacheDir: string;
  /** Credentials; by default the SDK's chain (AWS_ACCESS_KEY_ID..., a profile, an instance role). */
  credentials?: S3ClientConfig['credentials'];
  /** A local copy not used for this long is removed (default one hour). */
  cacheIdleMs?: number;
}

/** Objects deleted at once when a folder's worth goes. */
const DELETE_CONCURRENCY = 16;

export class S3BlobStore extends BlobLayout implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly endpoint: string;
  private readonly cacheIdleMs: number;
  /** Downloads under way, by local path: segment loops loading one reference share one download. */
  private readonly loading = new Map<string, Promise<string>>();
  private lastSweep = Date.now();
  private sweeping: Promise<void> | undefined;

  constructor(options: S3BlobStoreOptions) {
    super(options.cacheDir);
    this.bucket = options.bucket;
    this.prefix = options.prefix === '' ? '' : `${options.prefix.replace(/\/+$/u, '')}/`;
    this.endpoint = options.endpoint ?? `the ${options.region} region`;
    this.cacheIdleMs = options.cacheIdleMs ?? 3_600_000;
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      // Plain requests: S3-compatible stores that know no flexible checksums (or aws-chunked bodies) take them too.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // An unreachable store fails in seconds, not never; a stalled transfer is given up after a minute of silence.
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 60_000 },
    });
  }

  async prepareFor(path: string): Promise<void> {
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (error) {
      throw isStorageFull(error) ? storageFullError(error) : error;
    }
  }

  async save(path: string): Promise<void> {
    const local = this.localPath(path);
    const { size } = await stat(local);
    await this.call('saving a file', () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(path), Body: createReadStream(local), ContentLength: size })));
    this.sweepNow();
  }

  async load(path: string): Promise<string> {
    const local = this.localPath(path);
    const now = new Date();
    try {
      await utimes(local, now, now); // a copy in use is kept
      return local;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let download = this.loading.get(local);
    if (download === undefined) {
      download = this.download(path, local).finally(() => this.loading.delete(local));
      this.loading.set(local, download);
    }
    this.sweepNow();
    return await download;
  }

  async openForDownload(path: string): Promise<StoredDownload | undefined> {
    const key = this.objectKey(path);
    let head: { ContentLength?: number; ETag?: string; LastModified?: Date };
    try {
      head = await this.call('reading a file', () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const etag = head.ETag ?? '';
    return {
      kind: 'object',
      size: head.ContentLength ?? 0,
      etag,
      lastModified: head.LastModified ?? new Date(0),
      open: async (range) => {
        // IfMatch: the bytes come from the object the validators above describe.
        try {
          const object = await this.call('reading a file', () =>
            this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: etag || undefined, Range: range === undefined ? undefined : `bytes=${range.start}-${range.end}` })),
          );
          return object.Body as Readable;
        } catch (error) {
          throw isMissing(error) ? storedFileMissing(error) : error; // removed since
        }
      },
    };
  }

  async isFull(): Promise<boolean> {
    return isNearlyFull(this.root);
  }

  async removeTaskScratch(taskId: string): Promise<void> {
    await rm(join(this.root, 'tasks', checkId(taskId)), { recursive: true, force: true });
    await rm(this.uploadPath(taskId), { force: true });
    await this.removeObjects(`tasks/${taskId}/`);
    await this.removeObject(keyOf(this.uploadPath(taskId)));
  }

  async removeVoice(voiceId: string): Promise<void> {
    await rm(join(this.root, 'voices', checkId(voiceId)), { recursive: true, force: true });
    await this.removeObjects(`voices/${voiceId}/`);
  }

  async remove(path: string): Promise<void> {
    await rm(this.localPath(path), { force: true });
    await this.removeObject(keyOf(path));
  }

  /** Closes the client's connections. */
  close(): void {
    this.client.destroy();
  }

  private objectKey(path: string): string {
    return this.prefix + keyOf(path);
  }

  private async download(path: string, local: string): Promise<string> {
    let body: Readable;
    try {
      const object = await this.call('reading a file', () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(path) })));
      body = object.Body as Readable;
    } catch (error) {
      throw isMissing(error) ? storedFileMissing(error) : error;
    }
    // Written aside and renamed: a copy here is always whole.
    const partial = `${local}.${randomUUID()}.part`;
    try {
      await this.prepareFor(local);
      await pipeline(body, createWriteStream(partial));
      await rename(partial, local);
    } catch (error) {
      body.destroy();
      await rm(partial, { force: true });
      throw isStorageFull(error) ? storageFullError(error) : error;
    }
    return local;
  }

  private async removeObject(key: string): Promise<void> {
    await this.call('removing a file', () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key })));
  }

  /** Removes every object under a folder (`tasks/<id>/`); the folder comes from checked ids only. */
  private async removeObjects(folder: string): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.call('listing files', () => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + folder, ContinuationToken: token })));
      const keys = (page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key]));
      for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY) {
        await Promise.all(keys.slice(i, i + DELETE_CONCURRENCY).map((key) => this.call('removing a file', () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })))));
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** A request to the store; a store that cannot be used is E_STORAGE_UNAVAILABLE, saying why. */
  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (isMissing(error)) throw error;
      throw unavailable(error, what, this.bucket, this.endpoint);
    }
  }

  /** Starts a sweep of unused copies when the last one is long enough ago; never awaited by the caller. */
  private sweepNow(): void {
    const now = Date.now();
    if (this.sweeping !== undefined || now - this.lastSweep < this.cacheIdleMs / 4) return;
    this.lastSweep = now;
    this.sweeping = this.sweepCache(now - this.cacheIdleMs)
      .catch(() => undefined) // the next sweep tries again; the copies only take room
      .finally(() => (this.sweeping = undefined));
  }

  /** Removes local copies (and leftover partial downloads) not used since `before`, and the folders they leave empty. */
  async sweepCache(before: number): Promise<void> {
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true }).catch(() => []);
    const folders: string[] = [];
    for (const entry of entries) {
      const path = join(entry.parentPath, entry.name);
      if (entry.isDirectory()) folders.push(path);
      else if (entry.isFile() && ((await stat(path).catch(() => undefined))?.mtimeMs ?? before) < before) await rm(path, { force: true });
    }
    // Deepest first, so a folder emptied by its children goes too; one still in use is not empty.
    for (const folder of folders.sort((a, b) => b.length - a.length)) await rmdir(folder).catch(() => undefined);
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isMissing(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(error) === 404 && name !== 'NoSuchBucket');
}

function unavailable(error: unknown, what: string, bucket: string, endpoint: string): TtsError {
  if (error instanceof TtsError) return error;
  const name = String((error as { name?: unknown } | null)?.name ?? '');
  const code = String((error as { code?: unknown } | null)?.code ?? '');
  const status = statusOf(error);
  let reason: string;
  if (name === 'NoSuchBucket') reason = `the bucket ${bucket} does not exist; create it or set S3_BUCKET`;
  else if (status === 403 || name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'CredentialsProviderError' || name === 'ExpiredToken')
    reason = `it refuses access to the bucket ${bucket} (${name}); check the credentials and their permissions`;
  else if (status === undefined) reason = `it cannot be reached at ${endpoint} (${code || name}); check S3_ENDPOINT and the network`;
  else reason = `it answered ${status} (${name})`;
  return new TtsError('E_STORAGE_UNAVAILABLE', `The object store failed ${what}: ${reason}.`, { cause: error });
}
