import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../config/config.js';
import { TtsError } from '../errors.js';
import { createBlobStore } from './factory.js';
import { LocalBlobStore } from './local/local-blob-store.js';
import { S3BlobStore, type S3BlobStoreOptions } from './s3/s3-blob-store.js';
import { blobStoreContract } from './testing/blob-store-contract.js';
import { startS3Server, type TestS3Server } from './testing/s3-server.js';

const server = await startS3Server();
after(() => server.close());

const stores: S3BlobStore[] = [];
const folders: string[] = [];
after(async () => {
  for (const store of stores) store.close();
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

async function s3Store(options: Partial<S3BlobStoreOptions> & { prefix: string }, s3: TestS3Server = server): Promise<S3BlobStore> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'tts-s3-cache-'));
  folders.push(cacheDir);
  const store = new S3BlobStore({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials, cacheDir, ...options });
  stores.push(store);
  return store;
}

// Two nodes: one bucket and prefix, a local folder each.
blobStoreContract('S3-compatible object store (s3rver)', async () => {
  const prefix = `run-${randomUUID()}`;
  return { first: await s3Store({ prefix }), second: await s3Store({ prefix }), close: async () => undefined };
});

async function put(store: S3BlobStore, path: string, content: string): Promise<void> {
  await store.prepareFor(path);
  await writeFile(path, content);
  await store.save(path);
}

async function rejectsUnavailable(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TtsError, String(error));
    assert.equal(error.code, 'E_STORAGE_UNAVAILABLE');
    assert.equal(error.status, 503);
    assert.equal(error.retryable, true);
    assert.match(error.message, reason);
    return true;
  });
}

describe('S3 store', () => {
  test('S3_PREFIX keeps deployments apart in one bucket', async () => {
    const a = await s3Store({ prefix: `a-${randomUUID()}` });
    const b = await s3Store({ prefix: `b-${randomUUID()}/` });
    const path = a.segmentPath(randomUUID(), 0);
    await put(a, path, 'only a');
    await assert.rejects(b.load(path), (error: unknown) => error instanceof TtsError && error.code === 'E_STORED_FILE_MISSING');
    assert.equal(await b.openForDownload(path), undefined);
  });

  test('local copies not used for a while are removed; a later load fetches the file again', async () => {
    const prefix = `sweep-${randomUUID()}`;
    const writer = await s3Store({ prefix });
    const reader = await s3Store({ prefix });
    const path = writer.segmentPath(randomUUID(), 1);
    await put(writer, path, 'segment audio');
    const local = await reader.load(path);
    await reader.sweepCache(Date.now() - 60_000); // used just now: kept
    await access(local);
    await reader.sweepCache(Date.now() + 1_000); // as if unused since
    await assert.rejects(access(local));
    assert.equal(await readFile(await reader.load(path), 'utf8'), 'segment audio');
  });

  describe('a store that cannot be used: E_STORAGE_UNAVAILABLE saying why', () => {
    let closedPort: number;
    before(async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      closedPort = (probe.address() as { port: number }).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    });

    test('unreachable endpoint', async () => {
      const store = await s3Store({ prefix: '', endpoint: `http://127.0.0.1:${closedPort}` });
      const path = store.resultPath(randomUUID(), 'wav');
      await store.prepareFor(path);
      await writeFile(path, 'x');
      await rejectsUnavailable(store.save(path), /cannot be reached/u);
      await rejectsUnavailable(store.load(store.segmentPath(randomUUID(), 0)), /cannot be reached/u);
      await rejectsUnavailable(store.openForDownload(path), /cannot be reached/u);
    });

    test('missing bucket', async () => {
      const store = await s3Store({ prefix: '', bucket: `missing-${randomUUID().slice(0, 8)}` });
      const path = store.uploadPath(randomUUID());
      await store.prepareFor(path);
      await writeFile(path, 'x');
      await rejectsUnavailable(store.save(path), /bucket missing-.* does not exist/u);
      await rejectsUnavailable(store.load(store.segmentPath(randomUUID(), 0)), /does not exist/u);
    });

    test('credentials refused', async () => {
      const store = await s3Store({ prefix: '', credentials: { accessKeyId: 'NOT-AN-ACCOUNT', secretAccessKey: 'wrong' } });
      await rejectsUnavailable(store.load(store.segmentPath(randomUUID(), 0)), /refuses access/u);
    });
  });

  test('createBlobStore: BLOB_STORE picks the store; BLOB_DIR is its folder (the cache, for s3)', () => {
    const local = createBlobStore(loadConfig({ DATA_DIR: '/srv/tts' }));
    assert.ok(local instanceof LocalBlobStore);
    assert.equal(local.root, '/srv/tts/blobs');
    const s3 = createBlobStore(loadConfig({ BLOB_STORE: 's3', S3_BUCKET: 'b', S3_ENDPOINT: server.endpoint, BLOB_DIR: '/srv/cache' }));
    assert.ok(s3 instanceof S3BlobStore);
    assert.equal(s3.root, '/srv/cache');
    s3.close();
  });
});
