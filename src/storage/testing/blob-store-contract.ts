/**
 * What every BlobStore must do, run against each implementation. Two store instances share the
 * backing storage (one folder, one bucket) but not their local folders where a store has one:
 * two nodes. A file one node writes and saves is loaded by the other; downloads answer Range and
 * the validators as the API promises; removals reach every node.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rawRequest, type RawResponse } from '../../http/testing/raw-request.js';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { TtsError } from '../../errors.js';
import { registerErrorHandling } from '../../http/error-handler.js';
import { sendDownload } from '../../http/send-file.js';
import type { BlobStore } from '../blob-store.js';

export interface BlobStoreNodes {
  /** Two stores over the same backing storage, each with its own local folder where it has one. */
  first: BlobStore;
  second: BlobStore;
  close(): Promise<void>;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof TtsError && error.code === code);
}

/** Writes `bytes` at `path` on `store` and saves it, as the service does after writing a file. */
async function put(store: BlobStore, path: string, bytes: Buffer): Promise<string> {
  await store.prepareFor(path);
  await writeFile(path, bytes);
  await store.save(path);
  return path;
}

function bytes(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 7 + 3) % 256));
}

export function blobStoreContract(name: string, open: () => Promise<BlobStoreNodes>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let nodes: BlobStoreNodes;
    let app: FastifyInstance;
    let url: string;
    before(async () => {
      nodes = await open();
      // The download route's own code path, over the second node's store.
      app = Fastify();
      registerErrorHandling(app);
      app.route({
        method: ['GET', 'HEAD'],
        url: '/download',
        handler: async (request, reply) => {
          const { path } = request.query as { path: string };
          return await sendDownload(request, reply, await nodes.second.openForDownload(path), {
            contentType: 'audio/mpeg',
            fileName: 'result.mp3',
            missing: () => new TtsError('E_RESULT_EXPIRED', 'The audio is no longer stored; submit the task again.'),
          });
        },
      });
      url = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => {
      await app?.close();
      await nodes?.close();
    });

    async function download(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
      return await rawRequest(`${url}/download?path=${encodeURIComponent(path)}`, headers, method);
    }

    test('every kind of file written and saved on one node is loaded, whole, on the other', async () => {
      const { first, second } = nodes;
      const task = randomUUID();
      const voice = randomUUID();
      const paths = [
        first.uploadPath(task),
        first.referencePath(task, 24_000),
        first.voiceOriginalPath(voice),
        first.voiceReferencePath(voice, 16_000),
        first.segmentPath(task, 0),
        first.segmentPath(task, 12),
        first.resultPath(task, 'mp3'),
        first.timelinePath(task),
      ];
      for (const [i, path] of paths.entries()) await put(first, path, bytes(100 + i));
      for (const [i, path] of paths.entries()) {
        const local = await second.load(path);
        assert.deepEqual(await readFile(local), bytes(100 + i), path);
        assert.equal(await second.load(path), local, 'loaded again: the same file');
      }
      assert.deepEqual(await readFile(await first.load(paths[4]!)), bytes(104), 'the writer reads its own file');
    });

    test('several loads of one file at once all get it whole', async () => {
      const path = await put(nodes.first, nodes.first.segmentPath(randomUUID(), 3), bytes(50_000));
      const locals = await Promise.all(Array.from({ length: 8 }, () => nodes.second.load(path)));
      for (const local of locals) assert.deepEqual(await readFile(local), bytes(50_000));
    });

    test('a file the store does not have: E_STORED_FILE_MISSING', async () => {
      await rejectsWith(nodes.second.load(nodes.first.segmentPath(randomUUID(), 0)), 'E_STORED_FILE_MISSING');
      await rejectsWith(nodes.second.load(nodes.second.uploadPath(randomUUID())), 'E_STORED_FILE_MISSING');
    });

    test('only paths made from service ids: anything else is refused before any file is touched', async () => {
      const { first } = nodes;
      assert.throws(() => first.segmentPath('../../etc', 0));
      assert.throws(() => first.uploadPath('x'));
      assert.throws(() => first.resultPath(randomUUID(), '../x'));
      assert.throws(() => first.timelinePath('../x'));
      await assert.rejects(first.load('/etc/passwd'));
      await assert.rejects(first.load(`${first.uploadPath(randomUUID())}/../../../etc/passwd`));
      await assert.rejects(first.save('/etc/hostname'));
      await assert.rejects(first.remove('/etc/hostname'));
      await assert.rejects(first.openForDownload('/etc/passwd'));
    });

    test('remove: the file is gone for every node; removing it again is nothing', async () => {
      const { first, second } = nodes;
      const path = await put(first, first.resultPath(randomUUID(), 'wav'), bytes(10));
      assert.equal((await download(path)).status, 200);
      await first.remove(path);
      await rejectsWith(first.load(path), 'E_STORED_FILE_MISSING');
      const gone = await download(path);
      assert.equal(gone.status, 410);
      assert.equal(JSON.parse(gone.body.toString()).error.code, 'E_RESULT_EXPIRED');
      await first.remove(path);
      await second.remove(path);
    });

    test("removeTaskScratch: the task's upload, reference and segments go everywhere; its result stays", async () => {
      const { first, second } = nodes;
      const task = randomUUID();
      const other = randomUUID();
      const scratch = [first.uploadPath(task), first.referencePath(task, 24_000), first.segmentPath(task, 0), first.segmentPath(task, 1)];
      for (const path of scratch) await put(first, path, bytes(20));
      const result = await put(first, first.resultPath(task, 'wav'), bytes(30));
      const unrelated = await put(first, first.segmentPath(other, 0), bytes(40));
      await first.removeTaskScratch(task);
      for (const path of scratch) await rejectsWith(second.load(path), 'E_STORED_FILE_MISSING');
      for (const path of scratch) await rejectsWith(first.load(path), 'E_STORED_FILE_MISSING');
      assert.deepEqual(await readFile(await second.load(result)), bytes(30));
      assert.deepEqual(await readFile(await second.load(unrelated)), bytes(40));
      await first.removeTaskScratch(task); // again: nothing left to remove
    });

    test("removeVoice: the voice's files go everywhere", async () => {
      const { first, second } = nodes;
      const voice = randomUUID();
      const files = [first.voiceOriginalPath(voice), first.voiceReferencePath(voice, 24_000)];
      for (const path of files) await put(first, path, bytes(25));
      await first.removeVoice(voice);
      for (const path of files) await rejectsWith(second.load(path), 'E_STORED_FILE_MISSING');
      for (const path of files) await rejectsWith(first.load(path), 'E_STORED_FILE_MISSING');
    });

    test('isFull: a store with room says so', async () => {
      assert.equal(await nodes.first.isFull(), false);
    });

    describe('downloads (on the node that did not write the file)', () => {
      const content = bytes(1000);
      let path: string;
      let whole: Awaited<ReturnType<typeof download>>;
      let etag: string;
      before(async () => {
        path = await put(nodes.first, nodes.first.resultPath(randomUUID(), 'mp3'), content);
        whole = await download(path);
        etag = whole.headers.etag!;
      });

      test('200: the whole file with our headers and its validators', () => {
        assert.equal(whole.status, 200);
        assert.deepEqual(whole.body, content);
        assert.equal(whole.headers['content-length'], '1000');
        assert.equal(whole.headers['content-type'], 'audio/mpeg');
        assert.equal(whole.headers['content-disposition'], 'attachment; filename="result.mp3"');
        assert.equal(whole.headers['cache-control'], 'private, max-age=3600');
        assert.equal(whole.headers['accept-ranges'], 'bytes');
        assert.match(etag, /^(W\/)?"[^"]+"$/u);
        assert.ok(!Number.isNaN(Date.parse(whole.headers['last-modified']!)));
      });

      test('HEAD: the headers and no body', async () => {
        const head = await download(path, {}, 'HEAD');
        assert.equal(head.status, 200);
        assert.equal(head.headers['content-length'], '1000');
        assert.equal(head.headers.etag, etag);
        assert.equal(head.body.length, 0);
      });

      test('Range a-b, -n and a-: 206 with those bytes', async () => {
        const part = await download(path, { range: 'bytes=10-109' });
        assert.equal(part.status, 206);
        assert.equal(part.headers['content-range'], 'bytes 10-109/1000');
        assert.deepEqual(part.body, content.subarray(10, 110));
        const tail = await download(path, { range: 'bytes=-100' });
        assert.equal(tail.status, 206);
        assert.deepEqual(tail.body, content.subarray(900));
        const from = await download(path, { range: 'bytes=990-' });
        assert.equal(from.headers['content-range'], 'bytes 990-999/1000');
        assert.deepEqual(from.body, content.subarray(990));
      });

      test('Range past the end: 416 E_RANGE_NOT_SATISFIABLE with content-range bytes */SIZE', async () => {
        const beyond = await download(path, { range: 'bytes=5000-6000' });
        assert.equal(beyond.status, 416);
        assert.equal(beyond.headers['content-range'], 'bytes */1000');
        assert.equal(JSON.parse(beyond.body.toString()).error.code, 'E_RANGE_NOT_SATISFIABLE');
      });

      test('several ranges: the whole file', async () => {
        const several = await download(path, { range: 'bytes=0-1,5-6' });
        assert.equal(several.status, 200);
        assert.deepEqual(several.body, content);
      });

      test('If-Range: the range with the current ETag or date, the whole file otherwise', async () => {
        assert.equal((await download(path, { range: 'bytes=0-9', 'if-range': etag })).status, 206);
        assert.equal((await download(path, { range: 'bytes=0-9', 'if-range': '"another"' })).status, 200);
        assert.equal((await download(path, { range: 'bytes=0-9', 'if-range': whole.headers['last-modified']! })).status, 206);
        assert.equal((await download(path, { range: 'bytes=0-9', 'if-range': new Date(Date.now() - 86_400_000).toUTCString() })).status, 200);
      });

      test('If-None-Match and If-Modified-Since: 304 when the client has it, 200 otherwise', async () => {
        const fresh = await download(path, { 'if-none-match': etag });
        assert.equal(fresh.status, 304);
        assert.equal(fresh.body.length, 0);
        assert.equal((await download(path, { 'if-none-match': '"another"' })).status, 200);
        assert.equal((await download(path, { 'if-modified-since': whole.headers['last-modified']! })).status, 304);
      });

      test('If-Match with another ETag: 412 E_PRECONDITION_FAILED; with the ETag: 200', async () => {
        const refused = await download(path, { 'if-match': '"another"' });
        assert.equal(refused.status, 412);
        assert.equal(JSON.parse(refused.body.toString()).error.code, 'E_PRECONDITION_FAILED');
        assert.equal((await download(path, { 'if-match': etag })).status, 200);
      });

      test('a file that is not stored: the route\'s "missing" answer (410 E_RESULT_EXPIRED), no path in it', async () => {
        const missing = await download(nodes.first.resultPath(randomUUID(), 'mp3'));
        assert.equal(missing.status, 410);
        const body = missing.body.toString();
        assert.equal(JSON.parse(body).error.code, 'E_RESULT_EXPIRED');
        assert.doesNotMatch(body, /\/tmp|results\//u);
      });
    });
  });
}
