/**
 * Documents read into parts: fixtures made at test time (strings for text, Markdown and HTML,
 * yazl for EPUB, pdf-lib for PDF) give the expected text and chapters; hostile and malformed
 * documents are refused with a typed code, inside the worker thread's caps.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TextPart } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import { extractDocument } from './extract.js';
import { makeEpub, makePdf, makeZipBombEpub } from './testing/fixtures.js';
import type { DocumentLimits } from './types.js';

const LIMITS: DocumentLimits = { maxBytes: 10 * 1024 * 1024, maxChars: 100_000, timeoutMs: 30_000 };

async function read(input: string | Buffer, kind?: 'text' | 'markdown' | 'html' | 'epub' | 'pdf', hints: { name?: string } = {}, limits = LIMITS) {
  return await extractDocument(typeof input === 'string' ? Buffer.from(input) : input, kind, limits, hints);
}

async function refused(promise: Promise<unknown>, code: string): Promise<TtsError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TtsError, `expected a TtsError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.ok(error.status >= 400 && error.status < 500, `${code} is a 4xx`);
    return error;
  }
  assert.fail(`expected ${code}`);
}

const chapters = (parts: TextPart[]) => parts.flatMap((part) => (part.chapter === undefined ? [] : [part.chapter]));
const allText = (parts: TextPart[]) => parts.map((part) => part.text).join('\n');

test('plain text: read as it is, a blank line ends a paragraph, hard-wrapped lines are joined', async () => {
  const { kind, document } = await read('First line\nwrapped here.\n\nSecond paragraph.\n', undefined, { name: 'notes.txt' });
  assert.equal(kind, 'text');
  assert.deepEqual(document.parts, [{ text: 'First line wrapped here.\nSecond paragraph.' }]);
});

test('Markdown: headings become chapters with pauses; lists, tables, links, images and footnotes by the documented rules; code skipped', async () => {
  const source = [
    '# The Book',
    '',
    'An *opening* with a [link](https://example.com/x) and ![a red door](door.png) and a mark[^1].',
    '',
    '- milk',
    '- bread',
    '',
    '```js',
    'console.log("never read")',
    '```',
    '',
    '| name | age |',
    '|---|---|',
    '| Ada | 36 |',
    '',
    '## Second Chapter',
    '',
    '#### A small heading',
    '',
    'Fish &amp; chips.',
    '',
    '[^1]: The footnote, not read.',
  ].join('\n');
  const { kind, document } = await read(source, undefined, { name: 'book.md' });
  assert.equal(kind, 'markdown');
  assert.equal(document.title, 'The Book');
  assert.deepEqual(chapters(document.parts), ['The Book', 'Second Chapter']);
  const text = allText(document.parts);
  assert.match(text, /An opening with a link and a red door and a mark\./u);
  assert.match(text, /^milk\.$/mu);
  assert.match(text, /^bread\.$/mu);
  assert.match(text, /^name: Ada, age: 36\.$/mu);
  assert.match(text, /A small heading\./u);
  assert.match(text, /Fish & chips\./u);
  for (const unread of ['console.log', 'never read', 'footnote', 'https://', '[^1]', 'door.png']) assert.ok(!text.includes(unread), `${unread} is not read`);
  // The heading part has a pause after it; the part before a chapter a longer one; the last none.
  assert.equal(document.parts[0]?.text, 'The Book.');
  assert.ok((document.parts[0]?.pauseMs ?? 0) > 0);
  assert.equal(document.parts.at(-1)?.pauseMs, undefined);
});

test('HTML: the article is kept, navigation, scripts and styles are not read; h1–h3 become chapters', async () => {
  const html = `<!doctype html><html><head><title>Field Notes</title><style>body { color: red }</style>
    <script>globalThis.ran = true; document.write('SCRIPTED')</script></head>
    <body><nav><a href="/">Home</a><a href="/about">About us</a><a href="/shop">Shop</a></nav>
    <header><p>Site banner text</p></header>
    <main><article>
      <h1>Field Notes</h1>
      <p>The river rose quickly in the spring, and the valley filled with water for the first time in years, which nobody had expected.</p>
      <script>console.log('INLINE SCRIPT')</script>
      <h2>The Flood</h2>
      <p>By morning the bridge was gone and the village was cut off from the town, so the baker rowed across with bread for everyone.</p>
      <ul><li>boots</li><li>rope</li></ul>
      <pre><code>let x = 1;</code></pre>
    </article></main>
    <footer><p>Copyright footer</p></footer></body></html>`;
  const { kind, document } = await read(html);
  assert.equal(kind, 'html');
  assert.equal(document.title, 'Field Notes');
  assert.deepEqual(chapters(document.parts), ['Field Notes', 'The Flood']);
  const text = allText(document.parts);
  assert.match(text, /The river rose quickly/u);
  assert.match(text, /the baker rowed across/u);
  assert.match(text, /^boots\.$/mu);
  for (const unread of ['SCRIPTED', 'INLINE SCRIPT', 'color: red', 'About us', 'Site banner', 'Copyright footer', 'let x']) assert.ok(!text.includes(unread), `${unread} is not read`);
  assert.equal((globalThis as { ran?: boolean }).ran, undefined, 'no script ran');
});

test('EPUB: chapters in spine order, titled by their h1–h2 or else by the navigation', async () => {
  const epub = await makeEpub(
    [
      { file: 'one.xhtml', navTitle: 'Chapter One', body: '<p>It was a dark night.</p>' },
      { file: 'two.xhtml', navTitle: 'Ignored nav title', body: '<h2>Chapter Two</h2><p>The morning came.</p>' },
      { file: 'three.xhtml', body: '<p>An untitled coda.</p>' },
    ],
    { title: 'Night and Day', spineOrder: [1, 0, 2] },
  );
  const { kind, document } = await read(epub);
  assert.equal(kind, 'epub');
  assert.equal(document.title, 'Night and Day');
  assert.deepEqual(chapters(document.parts), ['Chapter Two', 'Chapter One']);
  const text = allText(document.parts);
  assert.ok(text.indexOf('The morning came.') < text.indexOf('It was a dark night.'), 'spine order');
  assert.ok(text.indexOf('It was a dark night.') < text.indexOf('An untitled coda.'));
});

test('PDF: the text layer in page order, the outline as chapters', async () => {
  const pdf = await makePdf(
    [
      ['Introduction', 'The first page of the paper.'],
      ['Methods', 'We measured every-', 'thing twice.'],
    ],
    {
      outline: [
        { title: 'Introduction', page: 0 },
        { title: 'Methods', page: 1 },
      ],
      title: 'A Paper',
    },
  );
  const { kind, document } = await read(pdf);
  assert.equal(kind, 'pdf');
  assert.equal(document.title, 'A Paper');
  assert.deepEqual(chapters(document.parts), ['Introduction', 'Methods']);
  const text = allText(document.parts);
  assert.ok(text.indexOf('first page') < text.indexOf('We measured'), 'page order');
  assert.match(text, /everything twice/u);
});

test('a zip bomb inside an EPUB is refused before it is unpacked', async () => {
  const error = await refused(read(await makeZipBombEpub(64)), 'E_DOCUMENT_TOO_LARGE');
  assert.match(error.message, /zip bomb/u);
});

test('an EPUB that unpacks to more than the cap is refused', async () => {
  const epub = await makeEpub([{ file: 'a.xhtml', body: `<p>${'word '.repeat(20_000)}</p>` }]);
  await refused(read(epub, 'epub', {}, { ...LIMITS, maxUnpackedBytes: 50_000 }), 'E_DOCUMENT_TOO_LARGE');
});

test('a PDF claiming a billion pages is read within the caps or refused, never walked', async () => {
  const pdf = await makePdf([['Only one real page.']], { claimPages: 1_000_000_000 });
  try {
    const { document } = await read(pdf);
    assert.equal(allText(document.parts), 'Only one real page.');
  } catch (error) {
    assert.ok(error instanceof TtsError && error.code === 'E_DOCUMENT_TOO_LARGE', String(error));
  }
  // More real pages than the cap: refused.
  await refused(read(await makePdf([['a'], ['b'], ['c']]), 'pdf', {}, { ...LIMITS, maxPdfPages: 2 }), 'E_DOCUMENT_TOO_LARGE');
});

for (const [kind, bytes] of [
  ['pdf', Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage')],
  ['epub', Buffer.from('PK\u0003\u0004 this is not a zip at all')],
  ['epub (no container)', null],
  ['html', Buffer.from('<html><body><p>fine</p>\u0000\u0001\u0002</body></html>')],
  ['markdown', Buffer.from([0x23, 0x20, 0x00, 0xff, 0xfe])],
] as Array<[string, Buffer | null]>) {
  test(`a malformed ${kind} is refused with a code, not a crash`, async () => {
    const input: Buffer = bytes ?? (await makeEpub([{ file: 'a.xhtml', body: '<p>x</p>' }]).then((epub) => epub.subarray(0, epub.length - 30)));
    const error = await refused(read(input, kind.split(' ')[0] as 'pdf'), 'E_DOCUMENT_UNREADABLE');
    assert.ok(!/\/tmp\/|\/work\//u.test(error.message), 'no server path in the message');
  });
}

test('a kind that is not read here, and a zip that is not an EPUB, are E_DOCUMENT_UNSUPPORTED', async () => {
  await refused(read(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0])), 'E_DOCUMENT_UNSUPPORTED');
  await refused(read(Buffer.from('PK\u0003\u0004\u0014\u0000\u0000\u0000somefile.txt')), 'E_DOCUMENT_UNSUPPORTED');
});

test('a document whose text is over the limit is refused (not cut), in every kind', async () => {
  const limits = { ...LIMITS, maxChars: 1_000 };
  const long = 'A sentence of some length goes here. '.repeat(100);
  await refused(read(long, 'text', {}, limits), 'E_DOCUMENT_TOO_LONG');
  await refused(read(`# Title\n\n${long}`, 'markdown', {}, limits), 'E_DOCUMENT_TOO_LONG');
  await refused(read(`<html><body><p>${long}</p></body></html>`, 'html', {}, limits), 'E_DOCUMENT_TOO_LONG');
  await refused(read(await makeEpub([{ file: 'a.xhtml', body: `<p>${long}</p>` }]), 'epub', {}, limits), 'E_DOCUMENT_TOO_LONG');
  const page = Array.from({ length: 15 }, () => long.slice(0, 60));
  await refused(read(await makePdf([page, page]), 'pdf', {}, limits), 'E_DOCUMENT_TOO_LONG');
});

test('more bytes than MAX_DOCUMENT_BYTES are refused before reading', async () => {
  await refused(read(Buffer.alloc(2_000, 0x41), 'text', {}, { ...LIMITS, maxBytes: 1_000 }), 'E_DOCUMENT_TOO_LARGE');
});

test('a document that takes longer than the time cap is ended, and the event loop keeps turning meanwhile', async () => {
  // 4 MB of deeply nested HTML: slow to parse, and read with a deadline far below that.
  const html = `<html><body>${'<div><span>'.repeat(200_000)}x</body></html>`;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  await refused(read(html, 'html', {}, { ...LIMITS, timeoutMs: 100 }), 'E_DOCUMENT_TIMEOUT');
  clearInterval(timer);
  assert.ok(ticks > 0, 'the event loop ran while the document was read');
});

// Readability's cost over linkedom grows with depth times size: these few kilobytes kept a reader
// busy until its deadline (5 KB of 1,000 nested divs: 9.5 s; 2,000: over a minute).
test('deep nesting: past 512 levels it is refused at once; a deep page within them is read without Readability, well inside the deadline', async () => {
  const chain = (depth: number, inner: string): string => '<div>'.repeat(depth) + inner + '</div>'.repeat(depth);
  const tooDeep = await refused(read(`<html><body>${chain(2_000, 'deep')}</body></html>`, 'html'), 'E_DOCUMENT_UNREADABLE');
  assert.match(tooDeep.message, /nests elements 200\d levels deep; at most 512/u);
  const deepEpub = await makeEpub([{ file: 'a.xhtml', body: chain(1_000, '<p>deep</p>') }]);
  assert.match((await refused(read(deepEpub, 'epub'), 'E_DOCUMENT_UNREADABLE')).message, /levels deep/u);

  // Each took Readability 2–20 s; the deadline here is far above what reading them takes now.
  const limits = { ...LIMITS, timeoutMs: 10_000 };
  const chains = `<html><body><p>Before the chains.</p>${chain(100, 'link').repeat(300)}<p>After the chains.</p></body></html>`;
  const text = allText((await read(chains, 'html', {}, limits)).document.parts);
  assert.match(text, /Before the chains\./u);
  assert.match(text, /After the chains\./u);
  const oneChain = allText((await read(`<html><body>${chain(500, '<p>At the bottom.</p>')}</body></html>`, 'html', {}, limits)).document.parts);
  assert.match(oneChain, /At the bottom\./u);
});

test('nothing to read is E_TEXT_EMPTY', async () => {
  await refused(read('<html><body><script>x()</script></body></html>', 'html'), 'E_TEXT_EMPTY');
  await refused(read(await makePdf([[]])), 'E_TEXT_EMPTY');
});
