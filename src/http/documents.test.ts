/**
 * Documents through the API: a `document` file of each kind is read at submit, the task
 * completes on the test engine and GET /api/task/:id/text shows what was read, chapters
 * included; a `document_url` is fetched from a loopback server (AUDIO_URL_ALLOW_PRIVATE, as
 * audio_url) and read when the task is prepared; hostile documents are refused with a typed 4xx
 * while the API keeps answering.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonPost, startTestService, waitForTask } from '../service/testing/test-service.js';
import { makeEpub, makePdf, makeZipBombEpub } from '../documents/testing/fixtures.js';

const service = await startTestService({ BENCH_SLEEP_MS_PER_CHAR: '0.2', BENCH_SLEEP_COST_MS: '5', AUDIO_URL_ALLOW_PRIVATE: '1', MAX_TEXT_CHARS: '5000' });

const served = new Map<string, { type: string; body: Buffer }>();
const server = createServer((request, response) => {
  const file = served.get(request.url ?? '');
  if (file === undefined) return void response.writeHead(404).end();
  response.writeHead(200, { 'content-type': file.type }).end(file.body);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
test.after(async () => {
  server.close();
  await service.stop();
});

function upload(name: string, data: Buffer, fields: Record<string, string> = {}): RequestInit {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  form.set('document', new Blob([data]), name);
  return { method: 'POST', body: form };
}

async function textOf(id: string) {
  const { status, body } = await service.request(`/api/task/${id}/text`);
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

const FIXTURES: Array<{ kind: string; name: string; data: () => Promise<Buffer>; chapters: string[]; says: RegExp }> = [
  { kind: 'text', name: 'notes.txt', data: async () => Buffer.from('Plain words here.\n\nAnother paragraph.'), chapters: [], says: /Another paragraph\./u },
  { kind: 'markdown', name: 'book.md', data: async () => Buffer.from('# One\n\nFirst words.\n\n## Two\n\nSecond words.\n'), chapters: ['One', 'Two'], says: /Second words\./u },
  {
    kind: 'html',
    name: 'page.html',
    data: async () =>
      Buffer.from(
        '<html><head><title>T</title></head><body><nav><a href="/">Home</a></nav><article><h1>Heading A</h1><p>Text of the article that is long enough to keep.</p><script>x()</script><h2>Heading B</h2><p>More text.</p></article></body></html>',
      ),
    chapters: ['Heading A', 'Heading B'],
    says: /long enough to keep/u,
  },
  {
    kind: 'epub',
    name: 'book.epub',
    data: () =>
      makeEpub([
        { file: 'a.xhtml', navTitle: 'Part A', body: '<p>Alpha.</p>' },
        { file: 'b.xhtml', body: '<h1>Part B</h1><p>Beta.</p>' },
      ]),
    chapters: ['Part A', 'Part B'],
    says: /Beta\./u,
  },
  {
    kind: 'pdf',
    name: 'paper.pdf',
    data: () =>
      makePdf([['Page one text.'], ['Page two text.']], {
        outline: [
          { title: 'Start', page: 0 },
          { title: 'End', page: 1 },
        ],
      }),
    chapters: ['Start', 'End'],
    says: /Page two text\./u,
  },
];

for (const fixture of FIXTURES) {
  test(`an uploaded ${fixture.kind} document is read at submit, completes, and /text shows its text and chapters`, async () => {
    const submitted = await service.request('/api/synthesis', upload(fixture.name, await fixture.data()));
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const task = await waitForTask(service, submitted.body.id);
    assert.equal(task.status, 'completed', JSON.stringify(task.error));
    const text = await textOf(submitted.body.id);
    assert.equal(text.source, 'document');
    assert.deepEqual(text.document, { kind: fixture.kind, name: fixture.name });
    assert.match(text.text, fixture.says);
    assert.deepEqual(
      text.chapters.map((c: { title: string }) => c.title),
      fixture.chapters,
    );
  });
}

test('document_kind overrides the file name', async () => {
  const submitted = await service.request('/api/synthesis', upload('README', Buffer.from('# Heading\n\nBody.'), { document_kind: 'markdown' }));
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  assert.deepEqual((await textOf(submitted.body.id)).chapters, [{ title: 'Heading', part: 0 }]);
});

test('a document_url is fetched and read when the task is prepared; /text shows it from then on', async () => {
  served.set('/book.md', { type: 'text/markdown', body: Buffer.from('# Remote\n\nFetched words.\n') });
  const submitted = await service.request('/api/synthesis', jsonPost({ document_url: `${origin}/book.md` }));
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const task = await waitForTask(service, submitted.body.id);
  assert.equal(task.status, 'completed', JSON.stringify(task.error));
  const text = await textOf(submitted.body.id);
  assert.equal(text.source, 'document_url');
  assert.equal(text.document.kind, 'markdown');
  assert.match(text.text, /Fetched words\./u);
  assert.deepEqual(text.chapters, [{ title: 'Remote', part: 0 }]);
});

test('a document_url that is a zip bomb, or missing, fails the task with a code', async () => {
  served.set('/bomb.epub', { type: 'application/epub+zip', body: await makeZipBombEpub(32) });
  for (const [path, code] of [
    ['/bomb.epub', 'E_DOCUMENT_TOO_LARGE'],
    ['/missing.pdf', 'E_URL_FETCH_FAILED'],
  ] as const) {
    const submitted = await service.request('/api/synthesis', jsonPost({ document_url: `${origin}${path}` }));
    assert.equal(submitted.status, 202);
    const task = await waitForTask(service, submitted.body.id);
    assert.deepEqual([task.status, task.error?.code], ['failed', code]);
    // Not read: /text says so with a 4xx.
    assert.equal((await service.request(`/api/task/${submitted.body.id}/text`)).status, 409);
  }
});

test('hostile uploads are refused with a 4xx and the API answers meanwhile', async () => {
  const hostile = [
    ['bomb.epub', await makeZipBombEpub(64), 'E_DOCUMENT_TOO_LARGE'],
    ['huge.pdf', await makePdf([['x'], ['y'], ['z']], { claimPages: 1_000_000_000 }), undefined],
    ['nested.html', Buffer.from(`<html><body>${'<div>'.repeat(100_000)}deep</body></html>`), undefined],
    ['broken.pdf', Buffer.from('%PDF-1.4\n%%EOF'), 'E_DOCUMENT_UNREADABLE'],
  ] as const;
  const answers = hostile.map(([name, data]) => service.request('/api/synthesis', upload(name, data)));
  // While they are read (in worker threads), the API answers.
  const health = await service.request('/healthz');
  assert.equal(health.status, 200);
  for (const [i, answer] of (await Promise.all(answers)).entries()) {
    const [name, , code] = hostile[i]!;
    assert.ok(answer.status < 500, `${name}: ${answer.status} ${JSON.stringify(answer.body)}`);
    if (code !== undefined) assert.equal(answer.body.error?.code, code, name);
  }
});

test('the text of a plain task is its text, as one part', async () => {
  const submitted = await service.request('/api/synthesis', jsonPost({ text: 'Just this.' }));
  const text = await textOf(submitted.body.id);
  assert.deepEqual([text.source, text.text, text.parts, text.chapters], ['text', 'Just this.', [{ text: 'Just this.' }], []]);
});
