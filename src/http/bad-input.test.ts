import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CONSENT_FIELDS, jsonPost, startTestService } from '../service/testing/test-service.js';
import { makeSilentVideo, makeTone } from '../audio/testing/fixtures.js';
import { sendRawBytes } from './testing/raw-request.js';

// 3,000 characters: multipart fields may then hold 12 KB, room for a 6,000-level nested list.
const service = await startTestService({ MAX_TEXT_CHARS: '3000', MAX_UPLOAD_BYTES: '200000' });
test.after(() => service.stop());

const task = (await service.request('/api/synthesis', jsonPost({ text: '存在的任务。' }))).body.id as string;
const missing = '00000000-0000-4000-8000-000000000000';

function multipart(fields: Record<string, string>, file?: { name: string; data: Buffer; field?: string }): RequestInit {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  if (file) form.set(file.field ?? 'audio', new Blob([file.data]), file.name);
  return { method: 'POST', body: form };
}

/** `length` bytes that look random and are the same at every run (a SHA-256 chain from a fixed seed). */
function noise(length: number): Buffer {
  const blocks: Buffer[] = [];
  let block = createHash('sha256').update('tts-queue bad-input noise').digest();
  for (let size = 0; size < length; size += block.length) {
    blocks.push(block);
    block = createHash('sha256').update(block).digest();
  }
  return Buffer.concat(blocks).subarray(0, length);
}

const raw = (body: string, contentType = 'application/json', method = 'POST'): RequestInit => ({ method, headers: { 'content-type': contentType }, body });

/** A list nested `depth` levels deep, as JSON text: a naive JSON.stringify of it overflows the stack. */
const nestedList = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const nestedObject = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** A multipart body written by hand, to send what no form-data library would. */
const handMadeMultipart = (contentType: string, body: string): RequestInit => ({ method: 'POST', headers: { 'content-type': contentType }, body });
const fieldPart = (boundary: string, name: string, value: string): string => `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;

const tone = async (name: string, seconds: number, format: 'wav' | 'mp3' = 'wav'): Promise<Buffer> => readFile(await makeTone(join(service.dataDir, name), { seconds, format, sampleRate: 8_000 }));

interface Case {
  name: string;
  path: string;
  init: () => Promise<RequestInit> | RequestInit;
  status: number;
  code: string;
  /** What the message must say (or not say). */
  message?: RegExp;
}

/** A request Node's HTTP parser refuses: sent as raw bytes, answered in the same shape, the connection closed. */
interface ProtocolCase {
  name: string;
  bytes: () => Buffer;
  status: number;
  code: string;
}

/** Files that are not a usable reference: the same code from POST /api/voices and POST /api/synthesis. */
interface UploadCase {
  name: string;
  file: () => Promise<{ name: string; data: Buffer }> | { name: string; data: Buffer };
  code: string;
}

const cases: Case[] = [
  // POST /api/synthesis, JSON
  { name: 'malformed JSON', path: '/api/synthesis', init: () => raw('{"text": "你好"'), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'empty JSON body', path: '/api/synthesis', init: () => raw(''), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'JSON that is an array', path: '/api/synthesis', init: () => raw('["你好"]'), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'JSON that is a string', path: '/api/synthesis', init: () => raw('"你好"'), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'missing text', path: '/api/synthesis', init: () => jsonPost({ format: 'mp3' }), status: 400, code: 'E_TEXT_EMPTY', message: /`text`, `parts`/u },
  // parts: several voices in one task
  { name: 'both text and parts', path: '/api/synthesis', init: () => jsonPost({ text: '你好。', parts: [{ text: '你好。' }] }), status: 400, code: 'E_TEXT_CONFLICT' },
  { name: 'a part with no text', path: '/api/synthesis', init: () => jsonPost({ parts: [{ text: '你好。' }, { text: ' 。。 ' }] }), status: 400, code: 'E_PART_EMPTY', message: /parts\[1\]/u },
  { name: 'a part with an empty text', path: '/api/synthesis', init: () => jsonPost({ parts: [{ text: '' }] }), status: 400, code: 'E_PART_EMPTY', message: /parts\[0\]/u },
  { name: 'a part without text', path: '/api/synthesis', init: () => jsonPost({ parts: [{ voice_id: randomUUID() }] }), status: 400, code: 'E_PART_INVALID' },
  { name: 'no parts at all', path: '/api/synthesis', init: () => jsonPost({ parts: [] }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'too many parts', path: '/api/synthesis', init: () => jsonPost({ parts: Array.from({ length: 10_001 }, () => ({ text: '一' })) }), status: 413, code: 'E_TOO_MANY_PARTS' },
  {
    name: 'an unknown voice in a part',
    path: '/api/synthesis',
    init: () => jsonPost({ parts: [{ text: '你好。' }, { text: '再见。', voice_id: randomUUID() }] }),
    status: 404,
    code: 'E_VOICE_NOT_FOUND',
    message: /parts\[1\]\.voice_id/u,
  },
  {
    name: 'a malformed voice id in a part',
    path: '/api/synthesis',
    init: () => jsonPost({ parts: [{ text: '你好。', voice_id: '../x' }] }),
    status: 404,
    code: 'E_VOICE_NOT_FOUND',
    message: /parts\[0\]/u,
  },
  { name: 'a negative pause', path: '/api/synthesis', init: () => jsonPost({ parts: [{ text: '你好。', pause_ms: -1 }] }), status: 400, code: 'E_PART_INVALID', message: /pause_ms/u },
  { name: 'a pause over a minute', path: '/api/synthesis', init: () => jsonPost({ parts: [{ text: '你好。', pause_ms: 60_001 }] }), status: 400, code: 'E_PART_INVALID', message: /pause_ms/u },
  { name: 'a fractional pause', path: '/api/synthesis', init: () => jsonPost({ parts: [{ text: '你好。', pause_ms: 1.5 }] }), status: 400, code: 'E_PART_INVALID' },
  { name: 'a pause of the wrong type', path: '/api/synthesis', init: () => jsonPost({ parts: [{ text: '你好。', pause_ms: '100' }] }), status: 400, code: 'E_PART_INVALID' },
  {
    name: 'a chapter title over 200 characters',
    path: '/api/synthesis',
    init: () => jsonPost({ parts: [{ text: '你好。', chapter: '章'.repeat(201) }] }),
    status: 400,
    code: 'E_PART_INVALID',
    message: /chapter/u,
  },
  { name: 'an empty chapter title', path: '/api/synthesis', init: () => jsonPost({ parts: [{ text: '你好。', chapter: ' ' }] }), status: 400, code: 'E_PART_INVALID', message: /chapter/u },
  { name: 'an unknown field in a part', path: '/api/synthesis', init: () => jsonPost({ parts: [{ text: '你好。', speed: 2 }] }), status: 400, code: 'E_PART_INVALID' },
  { name: 'parts that are not a list', path: '/api/synthesis', init: () => jsonPost({ parts: '你好。' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'parts longer than the text limit together',
    path: '/api/synthesis',
    init: () => jsonPost({ parts: Array.from({ length: 3 }, () => ({ text: '长'.repeat(4_000) })) }),
    status: 413,
    code: 'E_TEXT_TOO_LONG',
  },
  { name: 'text of the wrong type', path: '/api/synthesis', init: () => jsonPost({ text: 42 }), status: 400, code: 'E_INVALID_ARGUMENT', message: /Expected `text` to be a string, got 42\./u },
  { name: 'text null', path: '/api/synthesis', init: () => jsonPost({ text: null }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'empty text', path: '/api/synthesis', init: () => jsonPost({ text: '' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'white space only', path: '/api/synthesis', init: () => jsonPost({ text: ' \n\t\u3000 ' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'punctuation only', path: '/api/synthesis', init: () => jsonPost({ text: '。，！？……' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'control characters only', path: '/api/synthesis', init: () => jsonPost({ text: '\u0000\u0007\u001b\u200b' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'text over the limit', path: '/api/synthesis', init: () => jsonPost({ text: '长'.repeat(3001) }), status: 413, code: 'E_TEXT_TOO_LONG' },
  { name: 'a body over the size cap', path: '/api/synthesis', init: () => jsonPost({ text: '大'.repeat(2_000_000) }), status: 413, code: 'E_BODY_TOO_LARGE' },
  { name: 'unknown format', path: '/api/synthesis', init: () => jsonPost({ text: '你好', format: 'aiff' }), status: 400, code: 'E_FORMAT_UNSUPPORTED' },
  { name: 'format of the wrong type', path: '/api/synthesis', init: () => jsonPost({ text: '你好', format: 3 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'unknown field', path: '/api/synthesis', init: () => jsonPost({ text: '你好', fromat: 'mp3' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'unknown voice', path: '/api/synthesis', init: () => jsonPost({ text: '你好', voice_id: missing }), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'malformed voice id', path: '/api/synthesis', init: () => jsonPost({ text: '你好', voice_id: '../../etc/passwd' }), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'sample rate no engine writes', path: '/api/synthesis', init: () => jsonPost({ text: '你好', sample_rate: 44_100 }), status: 400, code: 'E_SAMPLE_RATE_UNSUPPORTED' },
  { name: 'engine that is not running', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine: 'glm-tts' }), status: 422, code: 'E_ENGINE_CAPABILITY' },
  { name: 'engine name with odd characters', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine: '../../bin/sh' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'cloning no engine does', path: '/api/synthesis', init: () => jsonPost({ text: '你好', require_cloning: true }), status: 422, code: 'E_ENGINE_CAPABILITY' },
  { name: 'engine_options as a list', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine_options: ['use_cache'] }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'reuse as a string', path: '/api/synthesis', init: () => jsonPost({ text: '你好', reuse: 'no' }), status: 400, code: 'E_INVALID_ARGUMENT', message: /`reuse`/u },
  { name: 'reuse as a number', path: '/api/synthesis', init: () => jsonPost({ text: '你好', reuse: 0 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'too many engine_options',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', engine_options: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`o${i}`, true])) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  { name: 'an engine option no engine takes', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine_options: { temperature: 0.7 } }), status: 422, code: 'E_ENGINE_CAPABILITY' },
  { name: 'sample rate not an integer', path: '/api/synthesis', init: () => jsonPost({ text: '你好', sample_rate: 'fast' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'negative seed', path: '/api/synthesis', init: () => jsonPost({ text: '你好', seed: -1 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'priority out of range',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', priority: 1000 }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /Expected `priority` to be an integer from -10 to 10, got 1000\./u,
  },
  { name: 'a seed of 1e400', path: '/api/synthesis', init: () => raw('{"text": "你好", "seed": 1e400}'), status: 400, code: 'E_INVALID_ARGUMENT', message: /^Expected `seed` .*got (?!null)/u },
  {
    name: 'engine_options nested 6,000 levels (objects)',
    path: '/api/synthesis',
    init: () => raw(`{"text": "你好", "engine_options": {"a": ${nestedObject(6_000)}}}`),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /^Expected `engine_options\.a` .{0,200}$/u,
  },
  {
    name: 'engine_options nested 6,000 levels (lists)',
    path: '/api/synthesis',
    init: () => raw(`{"text": "你好", "engine_options": ${nestedList(6_000)}}`),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /^Expected `engine_options` .{0,200}$/u,
  },
  {
    name: 'text as a 6,000-level nested list',
    path: '/api/synthesis',
    init: () => raw(`{"text": ${nestedList(6_000)}}`),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /^Expected `text` to be a string, got a list/u,
  },
  {
    name: 'an engine option name with odd characters',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', engine_options: { 'Bad-Name': true } }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /Bad-Name/u,
  },
  { name: 'not_before a word', path: '/api/synthesis', init: () => jsonPost({ text: '你好', not_before: 'tomorrow' }), status: 400, code: 'E_NOT_BEFORE_INVALID' },
  { name: 'not_before without a zone', path: '/api/synthesis', init: () => jsonPost({ text: '你好', not_before: '2099-01-01T00:00:00' }), status: 400, code: 'E_NOT_BEFORE_INVALID' },
  { name: 'not_before a date only', path: '/api/synthesis', init: () => jsonPost({ text: '你好', not_before: '2099-01-01' }), status: 400, code: 'E_NOT_BEFORE_INVALID' },
  { name: 'not_before a number', path: '/api/synthesis', init: () => jsonPost({ text: '你好', not_before: 1_900_000_000_000 }), status: 400, code: 'E_NOT_BEFORE_INVALID' },
  { name: 'not_before on a day that does not exist', path: '/api/synthesis', init: () => jsonPost({ text: '你好', not_before: '2099-02-30T00:00:00Z' }), status: 400, code: 'E_NOT_BEFORE_INVALID' },
  { name: 'not_before at hour 24', path: '/api/synthesis', init: () => jsonPost({ text: '你好', not_before: '2099-01-01T24:00:00Z' }), status: 400, code: 'E_NOT_BEFORE_INVALID' },
  { name: 'not_before a leap second', path: '/api/synthesis', init: () => jsonPost({ text: '你好', not_before: '2016-12-31T23:59:60Z' }), status: 400, code: 'E_NOT_BEFORE_INVALID' },
  {
    name: 'not_before in the past',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', not_before: new Date(Date.now() - 3_600_000).toISOString() }),
    status: 400,
    code: 'E_NOT_BEFORE_INVALID',
    message: /has passed/u,
  },
  {
    name: 'not_before over 30 days ahead',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', not_before: new Date(Date.now() + 31 * 86_400_000).toISOString() }),
    status: 400,
    code: 'E_NOT_BEFORE_INVALID',
    message: /30 days/u,
  },
  { name: 'not_before in a multipart form, unparseable', path: '/api/synthesis', init: () => multipart({ text: '你好', not_before: 'soon' }), status: 400, code: 'E_NOT_BEFORE_INVALID' },
  { name: 'pronunciations not a list', path: '/api/synthesis', init: () => jsonPost({ text: '重要', pronunciations: 'chong2' }), status: 400, code: 'E_PRONUNCIATION_INVALID' },
  { name: 'pinyin without tone', path: '/api/synthesis', init: () => jsonPost({ text: '重要', pronunciations: [{ text: '重', pinyin: 'chong' }] }), status: 400, code: 'E_PRONUNCIATION_INVALID' },
  { name: 'audio_url with a file scheme', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'file:///etc/passwd' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'audio_url to loopback', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'http://127.0.0.1:6379/' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'audio_url to cloud metadata', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'http://169.254.169.254/latest/meta-data/' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'audio_url to a private network', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'http://[::1]/x.wav' }), status: 400, code: 'E_URL_FORBIDDEN' },
  // Documents (README: Documents)
  {
    name: 'text and document_url both',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', document_url: 'https://example.com/a.md' }),
    status: 400,
    code: 'E_TEXT_CONFLICT',
    message: /exactly one/u,
  },
  { name: 'document_url to loopback', path: '/api/synthesis', init: () => jsonPost({ document_url: 'http://127.0.0.1:6379/' }), status: 400, code: 'E_URL_FORBIDDEN', message: /document_url/u },
  { name: 'document_url with a file scheme', path: '/api/synthesis', init: () => jsonPost({ document_url: 'file:///etc/passwd' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'document_url to cloud metadata', path: '/api/synthesis', init: () => jsonPost({ document_url: 'http://169.254.169.254/latest/meta-data/' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'document_url as a number', path: '/api/synthesis', init: () => jsonPost({ document_url: 7 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'document_kind not read here', path: '/api/synthesis', init: () => jsonPost({ document_url: 'https://example.com/a', document_kind: 'docx' }), status: 415, code: 'E_DOCUMENT_UNSUPPORTED' },
  { name: 'document_kind with text', path: '/api/synthesis', init: () => jsonPost({ text: '你好', document_kind: 'pdf' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'a document and text',
    path: '/api/synthesis',
    init: () => multipart({ text: '你好' }, { name: 'a.md', data: Buffer.from('# Hi\n\nThere.'), field: 'document' }),
    status: 400,
    code: 'E_TEXT_CONFLICT',
  },
  { name: 'a document of random bytes', path: '/api/synthesis', init: () => multipart({}, { name: 'noise.bin', data: noise(5_000), field: 'document' }), status: 415, code: 'E_DOCUMENT_UNSUPPORTED' },
  {
    name: 'a malformed PDF document',
    path: '/api/synthesis',
    init: () => multipart({}, { name: 'a.pdf', data: Buffer.from('%PDF-1.7 not really'), field: 'document' }),
    status: 422,
    code: 'E_DOCUMENT_UNREADABLE',
  },
  { name: 'an EPUB that is not a zip', path: '/api/synthesis', init: () => multipart({}, { name: 'a.epub', data: noise(3_000), field: 'document' }), status: 422, code: 'E_DOCUMENT_UNREADABLE' },
  {
    name: 'a document over the text limit',
    path: '/api/synthesis',
    init: () => multipart({}, { name: 'long.txt', data: Buffer.from('A long sentence here. '.repeat(200)), field: 'document' }),
    status: 413,
    code: 'E_DOCUMENT_TOO_LONG',
  },
  {
    name: 'a document with nothing to read',
    path: '/api/synthesis',
    init: () => multipart({}, { name: 'a.html', data: Buffer.from('<html><body><script>x()</script></body></html>'), field: 'document' }),
    status: 400,
    code: 'E_TEXT_EMPTY',
  },
  {
    name: 'a document with a kind not read here',
    path: '/api/synthesis',
    init: () => multipart({ document_kind: 'docx' }, { name: 'a.docx', data: Buffer.from('x'), field: 'document' }),
    status: 415,
    code: 'E_DOCUMENT_UNSUPPORTED',
  },
  { name: 'text of an unknown task', path: `/api/task/${missing}/text`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'text of a malformed task id', path: '/api/task/..%2f..%2fetc/text', init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'audio_url not a URL', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'not a url' }), status: 400, code: 'E_URL_FORBIDDEN' },
  { name: 'webhook_url to loopback', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'http://127.0.0.1:6379/' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  {
    name: 'webhook_url to IPv4-mapped loopback',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', webhook_url: 'http://[::ffff:127.0.0.1]/hook' }),
    status: 400,
    code: 'E_WEBHOOK_URL_FORBIDDEN',
  },
  { name: 'webhook_url to a private network', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'http://10.0.0.7/hook' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  {
    name: 'webhook_url to cloud metadata',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', webhook_url: 'http://169.254.169.254/latest/meta-data/' }),
    status: 400,
    code: 'E_WEBHOOK_URL_FORBIDDEN',
  },
  { name: 'webhook_url to localhost.', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'http://localhost./hook' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'webhook_url to IPv6 loopback', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'http://[::1]/hook' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'webhook_url to NAT64 loopback', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'http://[64:ff9b::7f00:1]/hook' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'webhook_url to 6to4', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'http://[2002:7f00:1::]/hook' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'webhook_url in hex', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'http://0x7f000001/hook' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'webhook_url with a file scheme', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'file:///etc/passwd' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  {
    name: 'webhook_url with credentials',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', webhook_url: 'https://user:pw@hooks.example.com/x' }),
    status: 400,
    code: 'E_WEBHOOK_URL_FORBIDDEN',
  },
  { name: 'webhook_url not a URL', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: 'not a url' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'webhook_url as a list', path: '/api/synthesis', init: () => jsonPost({ text: '你好', webhook_url: ['https://hooks.example.com/x'] }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'webhook_url over 2,048 characters',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', webhook_url: `https://hooks.example.com/${'a'.repeat(2100)}` }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'unknown webhook_events',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', webhook_url: 'https://hooks.example.com/x', webhook_events: 'some' }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'webhook_events of the wrong type',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', webhook_url: 'https://hooks.example.com/x', webhook_events: true }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'webhook_events without webhook_url',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', webhook_events: 'all' }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /webhook_url/u,
  },
  { name: 'webhook_url to loopback in a form', path: '/api/synthesis', init: () => multipart({ text: '你好', webhook_url: 'http://127.0.0.1/hook' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  {
    name: 'both voice_id and audio_url',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', voice_id: missing, audio_url: 'https://example.com/a.wav' }),
    status: 409,
    code: 'E_VOICE_CONFLICT',
  },
  { name: 'an over-long Idempotency-Key', path: '/api/synthesis', init: () => jsonPost({ text: '你好' }, { 'idempotency-key': 'k'.repeat(500) }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'JSON null', path: '/api/synthesis', init: () => raw('null'), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'JSON that is a number', path: '/api/synthesis', init: () => raw('42'), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'NaN in JSON', path: '/api/synthesis', init: () => raw('{"text": "你好", "seed": NaN}'), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'a __proto__ key', path: '/api/synthesis', init: () => raw('{"text": "你好", "__proto__": {"format": "aiff"}}'), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'a constructor.prototype key', path: '/api/synthesis', init: () => raw('{"text": "你好", "constructor": {"prototype": {"x": 1}}}'), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'a constructor key', path: '/api/synthesis', init: () => raw('{"text": "你好", "constructor": "x"}'), status: 400, code: 'E_INVALID_ARGUMENT', message: /constructor/u },
  {
    name: 'invalid UTF-8 in the text',
    path: '/api/synthesis',
    init: () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from([...Buffer.from('{"text": "'), 0xff, 0xfe, 0xc0, 0x80, ...Buffer.from('"}')]) }),
    status: 400,
    code: 'E_TEXT_EMPTY',
  },
  { name: 'lone surrogates only', path: '/api/synthesis', init: () => raw('{"text": "\\udc00\\ud800 \\udfff\\ud800"}'), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'bidi and C1 controls only', path: '/api/synthesis', init: () => jsonPost({ text: '\u202e\u2066\u0085\u009b\ufeff\u2028' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'combining marks only', path: '/api/synthesis', init: () => jsonPost({ text: '\u0301\u0302\u0303'.repeat(50) }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'text as an object', path: '/api/synthesis', init: () => jsonPost({ text: { zh: '你好' } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'voice_id of the wrong type', path: '/api/synthesis', init: () => jsonPost({ text: '你好', voice_id: 7 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'voice_id over 100 characters', path: '/api/synthesis', init: () => jsonPost({ text: '你好', voice_id: 'v'.repeat(101) }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audio_url as a list', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: ['https://example.com/a.wav'] }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'audio_url over 2,048 characters',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', audio_url: `https://example.com/${'a'.repeat(2100)}` }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  { name: 'prompt_text of the wrong type', path: '/api/synthesis', init: () => jsonPost({ text: '你好', prompt_text: { a: 1 } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audio_url without consent', path: '/api/synthesis', init: () => jsonPost({ text: '你好', audio_url: 'https://example.com/a.wav' }), status: 400, code: 'E_CONSENT_REQUIRED' },
  {
    name: 'audio_url with consent but no speaker_name',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', audio_url: 'https://example.com/a.wav', consent: true }),
    status: 400,
    code: 'E_CONSENT_REQUIRED',
  },
  {
    name: 'audio_url with consent "yes"',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', audio_url: 'https://example.com/a.wav', consent: 'yes', speaker_name: 'A' }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'audio_url with consent false',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', audio_url: 'https://example.com/a.wav', consent: false, speaker_name: 'A' }),
    status: 400,
    code: 'E_CONSENT_REQUIRED',
  },
  {
    name: 'speaker_name over 100 characters',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', audio_url: 'https://example.com/a.wav', consent: true, speaker_name: 'n'.repeat(101) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  { name: 'speaker_name of the wrong type', path: '/api/synthesis', init: () => jsonPost({ text: '你好', speaker_name: ['A'] }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a negative sample rate', path: '/api/synthesis', init: () => jsonPost({ text: '你好', sample_rate: -16_000 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a fractional sample rate', path: '/api/synthesis', init: () => jsonPost({ text: '你好', sample_rate: 16_000.5 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a seed past 2^32', path: '/api/synthesis', init: () => jsonPost({ text: '你好', seed: 2 ** 32 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a seed as text in JSON', path: '/api/synthesis', init: () => jsonPost({ text: '你好', seed: '7' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a seed of -0.5', path: '/api/synthesis', init: () => jsonPost({ text: '你好', seed: -0.5 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a fractional priority', path: '/api/synthesis', init: () => jsonPost({ text: '你好', priority: 1.5 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'priority below -10', path: '/api/synthesis', init: () => jsonPost({ text: '你好', priority: -11 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'require_cloning as text in JSON', path: '/api/synthesis', init: () => jsonPost({ text: '你好', require_cloning: 'true' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'an engine option that is an object', path: '/api/synthesis', init: () => jsonPost({ text: '你好', engine_options: { sample_method: { a: 1 } } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'an engine option over 100 characters',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '你好', engine_options: { sample_method: 'r'.repeat(101) } }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  { name: 'engine_options with a __proto__ name', path: '/api/synthesis', init: () => raw('{"text": "你好", "engine_options": {"__proto__": true}}'), status: 400, code: 'E_MALFORMED_JSON' },
  {
    name: 'a pronunciation with an extra field',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '重要', pronunciations: [{ text: '重', pinyin: 'zhong4', tone: 4 }] }),
    status: 400,
    code: 'E_PRONUNCIATION_INVALID',
  },
  {
    name: 'more pronunciations than allowed',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '重要', pronunciations: Array.from({ length: 101 }, () => ({ text: '重', pinyin: 'zhong4' })) }),
    status: 400,
    code: 'E_PRONUNCIATION_INVALID',
  },
  {
    name: 'a pronunciation of text not in the text',
    path: '/api/synthesis',
    init: () => jsonPost({ text: '重要', pronunciations: [{ text: '行', pinyin: 'hang2' }] }),
    status: 400,
    code: 'E_PRONUNCIATION_INVALID',
  },
  { name: 'an empty Idempotency-Key', path: '/api/synthesis', init: () => jsonPost({ text: '你好' }, { 'idempotency-key': '' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'an Idempotency-Key reused with another body',
    path: '/api/synthesis',
    init: async () => {
      await service.request('/api/synthesis', jsonPost({ text: '第一次。' }, { 'idempotency-key': 'corpus-reused' }));
      return jsonPost({ text: '第二次。' }, { 'idempotency-key': 'corpus-reused' });
    },
    status: 409,
    code: 'E_IDEMPOTENCY_CONFLICT',
  },
  {
    name: 'JSON in UTF-16',
    path: '/api/synthesis',
    init: () => ({ method: 'POST', headers: { 'content-type': 'application/json; charset=utf-16' }, body: Buffer.from('\ufeff{"text": "你好"}', 'utf16le') }),
    status: 400,
    code: 'E_MALFORMED_JSON',
  },
  { name: 'a content type the route does not take', path: '/api/synthesis', init: () => raw('text=你好', 'text/plain'), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'form-urlencoded', path: '/api/synthesis', init: () => raw('text=hi', 'application/x-www-form-urlencoded'), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  // POST /api/synthesis, multipart
  {
    name: 'both voice_id and an upload',
    path: '/api/synthesis',
    init: async () => multipart({ text: '你好', voice_id: missing }, { name: 'a.wav', data: await tone('both.wav', 3) }),
    status: 409,
    code: 'E_VOICE_CONFLICT',
  },
  { name: 'an upload over the size cap', path: '/api/synthesis', init: () => multipart({ text: '你好' }, { name: 'big.wav', data: randomBytes(300_000) }), status: 413, code: 'E_BODY_TOO_LARGE' },
  {
    name: 'an upload in the wrong field',
    path: '/api/synthesis',
    init: async () => multipart({ text: '你好' }, { name: 'a.wav', data: await tone('field.wav', 3), field: 'voice' }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  { name: 'multipart parts that are not JSON', path: '/api/synthesis', init: async () => multipart({ parts: 'not json' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart parts with an empty part', path: '/api/synthesis', init: async () => multipart({ parts: '[{"text": ""}]' }), status: 400, code: 'E_PART_EMPTY' },
  { name: 'multipart without text', path: '/api/synthesis', init: async () => multipart({}, { name: 'a.wav', data: await tone('notext.wav', 3) }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'multipart seed not a number', path: '/api/synthesis', init: () => multipart({ text: '你好', seed: 'abc' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart pronunciations not JSON', path: '/api/synthesis', init: () => multipart({ text: '你好', pronunciations: '[{' }), status: 400, code: 'E_PRONUNCIATION_INVALID' },
  { name: 'multipart seed of 1e400', path: '/api/synthesis', init: () => multipart({ text: '你好', seed: '1e400' }), status: 400, code: 'E_INVALID_ARGUMENT', message: /got "1e400"/u },
  { name: 'multipart require_cloning not a boolean', path: '/api/synthesis', init: () => multipart({ text: '你好', require_cloning: 'yes' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart unknown field', path: '/api/synthesis', init: () => multipart({ text: '你好', fromat: 'mp3' }), status: 400, code: 'E_INVALID_ARGUMENT', message: /fromat/u },
  { name: 'multipart priority out of range', path: '/api/synthesis', init: () => multipart({ text: '你好', priority: '11' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart priority NaN', path: '/api/synthesis', init: () => multipart({ text: '你好', priority: 'NaN' }), status: 400, code: 'E_INVALID_ARGUMENT', message: /got "NaN"/u },
  { name: 'multipart sample_rate Infinity', path: '/api/synthesis', init: () => multipart({ text: '你好', sample_rate: '-Infinity' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart seed -1', path: '/api/synthesis', init: () => multipart({ text: '你好', seed: '-1' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart seed in hex', path: '/api/synthesis', init: () => multipart({ text: '你好', seed: '0x10' }), status: 400, code: 'E_INVALID_ARGUMENT', message: /got "0x10"/u },
  { name: 'multipart seed of 20 digits', path: '/api/synthesis', init: () => multipart({ text: '你好', seed: '9'.repeat(20) }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart format unknown', path: '/api/synthesis', init: () => multipart({ text: '你好', format: 'exe' }), status: 400, code: 'E_FORMAT_UNSUPPORTED' },
  { name: 'multipart engine_options a list', path: '/api/synthesis', init: () => multipart({ text: '你好', engine_options: '["a"]' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart engine_options not JSON', path: '/api/synthesis', init: () => multipart({ text: '你好', engine_options: '{a:1' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'multipart pronunciations an object', path: '/api/synthesis', init: () => multipart({ text: '重要', pronunciations: '{"text": "重"}' }), status: 400, code: 'E_PRONUNCIATION_INVALID' },
  { name: 'multipart text over the limit', path: '/api/synthesis', init: () => multipart({ text: '长'.repeat(3001) }), status: 413, code: 'E_TEXT_TOO_LONG' },
  { name: 'multipart field over the field size', path: '/api/synthesis', init: () => multipart({ text: '你好', prompt_text: '长'.repeat(6000) }), status: 413, code: 'E_BODY_TOO_LARGE' },
  { name: 'multipart text of control characters', path: '/api/synthesis', init: () => multipart({ text: '\u0001\u0002\u007f' }), status: 400, code: 'E_TEXT_EMPTY' },
  {
    name: 'multipart __proto__ field',
    path: '/api/synthesis',
    init: () =>
      multipart(
        Object.fromEntries([
          ['text', '你好'],
          ['__proto__', 'x'],
        ]),
      ),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /__proto__/u,
  },
  {
    name: 'multipart constructor field',
    path: '/api/synthesis',
    init: () => multipart({ text: '你好', constructor: '{}' }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /`constructor`/u,
  },
  { name: 'multipart toString field', path: '/api/synthesis', init: () => multipart({ text: '你好', toString: 'x' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'multipart field given twice',
    path: '/api/synthesis',
    init: () => handMadeMultipart('multipart/form-data; boundary=XX', `${fieldPart('XX', 'text', '你好')}${fieldPart('XX', 'text', '再见')}--XX--\r\n`),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /twice/u,
  },
  {
    name: 'multipart with more fields than allowed',
    path: '/api/synthesis',
    init: () => multipart(Object.fromEntries([['text', '你好'], ...Array.from({ length: 30 }, (_, i) => [`f${i}`, 'x'])])),
    status: 413,
    code: 'E_BODY_TOO_LARGE',
  },
  { name: 'an upload without consent', path: '/api/synthesis', init: () => multipart({ text: '你好' }, { name: 'a.wav', data: randomBytes(2_000) }), status: 400, code: 'E_CONSENT_REQUIRED' },
  {
    name: 'an upload without speaker_name',
    path: '/api/synthesis',
    init: () => multipart({ text: '你好', consent: 'true' }, { name: 'a.wav', data: randomBytes(2_000) }),
    status: 400,
    code: 'E_CONSENT_REQUIRED',
  },
  {
    name: 'an upload with a blank speaker_name',
    path: '/api/synthesis',
    init: () => multipart({ text: '你好', consent: 'true', speaker_name: ' \u200b\t ' }, { name: 'a.wav', data: randomBytes(2_000) }),
    status: 400,
    code: 'E_CONSENT_REQUIRED',
  },
  {
    name: 'an upload with consent "yes"',
    path: '/api/synthesis',
    init: () => multipart({ text: '你好', consent: 'yes', speaker_name: 'A' }, { name: 'a.wav', data: randomBytes(2_000) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'an upload with speaker_name over 100 characters',
    path: '/api/synthesis',
    init: () => multipart({ text: '你好', consent: 'true', speaker_name: 'n'.repeat(101) }, { name: 'a.wav', data: randomBytes(2_000) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'multipart engine_options nested 6,000 levels',
    path: '/api/synthesis',
    init: () => multipart({ text: '你好', engine_options: nestedList(6_000) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /^Expected `engine_options` .{0,200}$/u,
  },
  { name: 'multipart without a boundary', path: '/api/synthesis', init: () => handMadeMultipart('multipart/form-data', fieldPart('XX', 'text', '你好')), status: 400, code: 'E_MALFORMED_MULTIPART' },
  {
    name: 'multipart without the closing delimiter',
    path: '/api/synthesis',
    init: () => handMadeMultipart('multipart/form-data; boundary=XX', fieldPart('XX', 'text', '你好')),
    status: 400,
    code: 'E_MALFORMED_MULTIPART',
  },
  {
    name: 'multipart cut short inside a field',
    path: '/api/synthesis',
    init: () => handMadeMultipart('multipart/form-data; boundary=XX', '--XX\r\ncontent-disposition: form-data; name="text"\r\n\r\n你'),
    status: 400,
    code: 'E_MALFORMED_MULTIPART',
  },
  {
    name: 'a voice in malformed multipart',
    path: '/api/voices',
    init: () => handMadeMultipart('multipart/form-data; boundary=XX', '--XX\r\ncontent-disposition: form-data; name="name"\r\n\r\nx'),
    status: 400,
    code: 'E_MALFORMED_MULTIPART',
  },
  // GET /api/task/:id and friends
  { name: 'unknown task', path: `/api/task/${missing}`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'a path-like task id', path: '/api/task/..%2F..%2Fetc%2Fpasswd', init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'a very long task id', path: `/api/task/${'a'.repeat(150)}`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'an id longer than any route allows', path: `/api/task/${'a'.repeat(5000)}`, init: () => ({}), status: 414, code: 'E_URI_TOO_LONG' },
  { name: 'audio of an unknown task', path: `/api/task/${missing}/audio`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'events of an unknown task', path: `/api/task/${missing}/events`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'a malformed Last-Event-ID', path: `/api/task/${task}/events`, init: () => ({ headers: { 'last-event-id': 'yesterday' } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'cancel an unknown task', path: `/api/task/${missing}`, init: () => ({ method: 'DELETE' }), status: 404, code: 'E_NOT_FOUND' },
  { name: 'list with an unknown status', path: '/api/tasks?status=dancing', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with a limit too large', path: '/api/tasks?limit=100000', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with a forged cursor', path: '/api/tasks?cursor=abc', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with limit=Infinity', path: '/api/tasks?limit=Infinity', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT', message: /got "Infinity"/u },
  { name: 'list with limit=1e400', path: '/api/tasks?limit=1e400', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT', message: /got "1e400"/u },
  { name: 'list with a limit of 400 nines', path: `/api/tasks?limit=${'9'.repeat(400)}`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT', message: /got "9{60}"…/u },
  { name: 'list with limit=-1', path: '/api/tasks?limit=-1', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT', message: /got -1\./u },
  { name: 'list with limit=1.5', path: '/api/tasks?limit=1.5', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT', message: /got "1\.5"/u },
  { name: 'a malformed percent-encoding in the id', path: '/api/task/%E0%A4%A', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a NUL in the id', path: '/api/task/%00', init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'an id of unicode', path: `/api/task/${encodeURIComponent('任务\u{1f600}\u202e')}`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'an upper-case task id', path: `/api/task/${missing.toUpperCase().replace(/0/gu, 'A')}`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'audio of a path-like id', path: '/api/task/..%2F..%2Fetc/audio', init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'audio of an over-long id', path: `/api/task/${'b'.repeat(300)}/audio`, init: () => ({}), status: 414, code: 'E_URI_TOO_LONG' },
  { name: 'events of a malformed id', path: '/api/task/%20%20/events', init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'a Last-Event-ID of 17 digits', path: `/api/task/${task}/events`, init: () => ({ headers: { 'last-event-id': '9'.repeat(17) } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a negative last_event_id', path: `/api/task/${task}/events?last_event_id=-1`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'last_event_id given twice', path: `/api/task/${task}/events?last_event_id=1&last_event_id=2`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'cancel a path-like id', path: '/api/task/..%2F..%2Fdata', init: () => ({ method: 'DELETE' }), status: 404, code: 'E_NOT_FOUND' },
  { name: 'cancel an over-long id', path: `/api/task/${'c'.repeat(300)}`, init: () => ({ method: 'DELETE' }), status: 414, code: 'E_URI_TOO_LONG' },
  { name: 'list with limit=0', path: '/api/tasks?limit=0', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with limit=abc', path: '/api/tasks?limit=abc', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with status given twice', path: '/api/tasks?status=queued&status=failed', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with a negative cursor', path: '/api/tasks?cursor=-5', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'list with a cursor over 32 characters', path: `/api/tasks?cursor=${'1'.repeat(33)}`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  // voices
  { name: 'a voice as JSON', path: '/api/voices', init: () => jsonPost({ name: 'x' }), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a voice without a file', path: '/api/voices', init: () => multipart({ name: 'x', ...CONSENT_FIELDS }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'a voice without a name',
    path: '/api/voices',
    init: async () => multipart({ ...CONSENT_FIELDS }, { name: 'a.wav', data: await tone('noname.wav', 3) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'a voice of 0.2 s',
    path: '/api/voices',
    init: async () => multipart({ name: 'x', ...CONSENT_FIELDS }, { name: 'a.wav', data: await tone('short.wav', 0.2) }),
    status: 422,
    code: 'E_AUDIO_TOO_SHORT',
  },
  { name: 'an unknown voice', path: `/api/voices/${missing}`, init: () => ({}), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'delete an unknown voice', path: `/api/voices/${missing}`, init: () => ({ method: 'DELETE' }), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'a voice with consent "yes"', path: '/api/voices', init: () => multipart({ name: 'x', consent: 'yes', speaker_name: 'A' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a voice with consent false', path: '/api/voices', init: () => multipart({ name: 'x', consent: 'false', speaker_name: 'A' }), status: 400, code: 'E_CONSENT_REQUIRED' },
  { name: 'a voice without consent', path: '/api/voices', init: () => multipart({ name: 'x', speaker_name: 'A' }), status: 400, code: 'E_CONSENT_REQUIRED' },
  { name: 'a voice without speaker_name', path: '/api/voices', init: () => multipart({ name: 'x', consent: 'true' }), status: 400, code: 'E_CONSENT_REQUIRED' },
  {
    name: 'a voice with speaker_name over 100 characters',
    path: '/api/voices',
    init: () => multipart({ name: 'x', consent: 'true', speaker_name: 'n'.repeat(101) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  { name: 'a voice with an unknown field', path: '/api/voices', init: () => multipart({ name: 'x', ...CONSENT_FIELDS, colour: 'blue' }), status: 400, code: 'E_INVALID_ARGUMENT', message: /colour/u },
  {
    name: 'a voice with a __proto__ field',
    path: '/api/voices',
    init: () => multipart(Object.fromEntries([['name', 'x'], ...Object.entries(CONSENT_FIELDS), ['__proto__', 'x']])),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
    message: /__proto__/u,
  },
  {
    name: 'a voice with a name over 100 characters',
    path: '/api/voices',
    init: async () => multipart({ name: 'n'.repeat(101), ...CONSENT_FIELDS }, { name: 'a.wav', data: await tone('longname.wav', 3) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'a voice with a name of control characters',
    path: '/api/voices',
    init: async () => multipart({ name: '\u0000\u0007\u001b', ...CONSENT_FIELDS }, { name: 'a.wav', data: await tone('ctrlname.wav', 3) }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  { name: 'a voice as form-urlencoded', path: '/api/voices', init: () => raw('name=x', 'application/x-www-form-urlencoded'), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a path-like voice id', path: '/api/voices/..%2F..%2Fetc%2Fpasswd', init: () => ({}), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'an over-long voice id', path: `/api/voices/${'v'.repeat(300)}`, init: () => ({}), status: 414, code: 'E_URI_TOO_LONG' },
  { name: 'delete a path-like voice', path: '/api/voices/..%2F..', init: () => ({ method: 'DELETE' }), status: 404, code: 'E_VOICE_NOT_FOUND' },
  // /api/keys (loopback without keys: anonymous is admin; none of these may create a key)
  { name: 'a key without a name', path: '/api/keys', init: () => jsonPost({ role: 'user' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with an empty name', path: '/api/keys', init: () => jsonPost({ name: '' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key name of white space', path: '/api/keys', init: () => jsonPost({ name: '   ' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key name with control characters', path: '/api/keys', init: () => jsonPost({ name: 'ops\u0007\u001b[31m' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key name with a newline', path: '/api/keys', init: () => jsonPost({ name: 'ops\nadmin' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key name over 64 characters', path: '/api/keys', init: () => jsonPost({ name: 'k'.repeat(65) }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key name starting with a mark', path: '/api/keys', init: () => jsonPost({ name: '-rf' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key name of the wrong type', path: '/api/keys', init: () => jsonPost({ name: 42 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with an unknown role', path: '/api/keys', init: () => jsonPost({ name: 'k1', role: 'root' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with a role of the wrong type', path: '/api/keys', init: () => jsonPost({ name: 'k1', role: ['admin'] }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with a negative quota', path: '/api/keys', init: () => jsonPost({ name: 'k1', quotas: { open_tasks: -1 } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with a fractional quota', path: '/api/keys', init: () => jsonPost({ name: 'k1', quotas: { chars_per_day: 2.5 } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with a quota as text', path: '/api/keys', init: () => jsonPost({ name: 'k1', quotas: { voices: '10' } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with a quota past the maximum', path: '/api/keys', init: () => jsonPost({ name: 'k1', quotas: { requests_per_second: 1e12 } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with an unknown quota', path: '/api/keys', init: () => jsonPost({ name: 'k1', quotas: { gpus: 1 } }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with quotas as a list', path: '/api/keys', init: () => jsonPost({ name: 'k1', quotas: [1] }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with an unknown field', path: '/api/keys', init: () => jsonPost({ name: 'k1', secret: 'mine' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key as a JSON array', path: '/api/keys', init: () => raw('[{"name": "k1"}]'), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with a __proto__ key', path: '/api/keys', init: () => raw('{"name": "k1", "__proto__": {"role": "admin"}}'), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'a key from malformed JSON', path: '/api/keys', init: () => raw('{"name": '), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'a key as text/plain', path: '/api/keys', init: () => raw('name=k1', 'text/plain'), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'a key with a webhook_url to loopback', path: '/api/keys', init: () => jsonPost({ name: 'k1', webhook_url: 'http://127.0.0.1/hook' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'a key with a webhook_url to metadata', path: '/api/keys', init: () => jsonPost({ name: 'k1', webhook_url: 'http://169.254.169.254/' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'a key with a webhook_url of the wrong type', path: '/api/keys', init: () => jsonPost({ name: 'k1', webhook_url: 42 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'a key with a webhook_url not http(s)', path: '/api/keys', init: () => jsonPost({ name: 'k1', webhook_url: 'gopher://hooks.example.com/' }), status: 400, code: 'E_WEBHOOK_URL_FORBIDDEN' },
  { name: 'an unknown key id', path: '/api/keys/abcdefghijkl', init: () => ({}), status: 404, code: 'E_KEY_NOT_FOUND' },
  { name: 'an unknown key name', path: '/api/keys/nobody', init: () => ({}), status: 404, code: 'E_KEY_NOT_FOUND' },
  { name: 'a key name with odd characters', path: `/api/keys/${encodeURIComponent('../\u0000\u{1f600}')}`, init: () => ({}), status: 404, code: 'E_KEY_NOT_FOUND' },
  { name: 'revoke an unknown key', path: '/api/keys/abcdefghijkl', init: () => ({ method: 'DELETE' }), status: 404, code: 'E_KEY_NOT_FOUND' },
  { name: 'revoke a key by an unknown name', path: '/api/keys/nobody', init: () => ({ method: 'DELETE' }), status: 404, code: 'E_KEY_NOT_FOUND' },
  { name: 'an over-long key id', path: `/api/keys/${'k'.repeat(300)}`, init: () => ({}), status: 414, code: 'E_URI_TOO_LONG' },
  // /api/audit
  { name: 'audit with an unknown action', path: '/api/audit?action=key.steal', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit since a word', path: '/api/audit?since=yesterday', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit since a time without a zone', path: '/api/audit?since=2025-01-01T00:00:00', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit until month 13', path: '/api/audit?until=2025-13-45T00:00:00Z', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit since a leap second', path: '/api/audit?since=2016-12-31T23:59:60Z', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit since a number', path: '/api/audit?since=1700000000', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with limit=0', path: '/api/audit?limit=0', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with limit=501', path: '/api/audit?limit=501', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with limit=1e3', path: '/api/audit?limit=1e3', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with a forged cursor', path: '/api/audit?cursor=abc', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with a cursor past 64 bits', path: `/api/audit?cursor=${'9'.repeat(20)}-0`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with a cursor sequence past 64 bits', path: `/api/audit?cursor=1-${'9'.repeat(20)}`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with a cursor of 0-0', path: '/api/audit?cursor=0-0', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with a cursor of 20 digits', path: `/api/audit?cursor=${'9'.repeat(20)}`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with a cursor over 64 characters', path: `/api/audit?cursor=${'1'.repeat(65)}`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with an empty key_id', path: '/api/audit?key_id=', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with an unknown parameter', path: '/api/audit?acton=task.create', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with a __proto__ parameter', path: '/api/audit?__proto__=x', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'audit with action given twice', path: '/api/audit?action=task.create&action=key.create', init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  // speed
  { name: 'speed below 0.25', path: '/api/synthesis', init: () => jsonPost({ text: '你好', speed: 0.2 }), status: 400, code: 'E_INVALID_ARGUMENT', message: /`speed`.*0\.25 to 4/u },
  { name: 'speed above 4', path: '/api/synthesis', init: () => jsonPost({ text: '你好', speed: 4.5 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'speed as text', path: '/api/synthesis', init: () => jsonPost({ text: '你好', speed: 'fast' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'speed null', path: '/api/synthesis', init: () => jsonPost({ text: '你好', speed: null }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'speed not a number in multipart', path: '/api/synthesis', init: () => multipart({ text: '你好', speed: 'NaN' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  // GET /api/task/:id/stream
  { name: 'stream of an unknown task', path: `/api/task/${missing}/stream`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'stream of a malformed id', path: '/api/task/..%2F..%2Fetc/stream', init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'stream in an unknown format', path: `/api/task/${task}/stream?format=aiff`, init: () => ({}), status: 400, code: 'E_FORMAT_UNSUPPORTED', message: /mp3/u },
  { name: 'stream format given twice', path: `/api/task/${task}/stream?format=mp3&format=wav`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'stream with an unknown parameter', path: `/api/task/${task}/stream?speed=2`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  // GET /api/task/:id/subtitles
  { name: 'subtitles of an unknown task', path: `/api/task/${missing}/subtitles`, init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'subtitles of a malformed id', path: '/api/task/..%2F..%2Fetc/subtitles', init: () => ({}), status: 404, code: 'E_NOT_FOUND' },
  { name: 'subtitles in an unknown format', path: `/api/task/${task}/subtitles?format=ass`, init: () => ({}), status: 400, code: 'E_FORMAT_UNSUPPORTED', message: /vtt/u },
  { name: 'subtitles in an audio format', path: `/api/task/${task}/subtitles?format=mp3`, init: () => ({}), status: 400, code: 'E_FORMAT_UNSUPPORTED' },
  { name: 'subtitles format in capitals', path: `/api/task/${task}/subtitles?format=VTT`, init: () => ({}), status: 400, code: 'E_FORMAT_UNSUPPORTED' },
  { name: 'subtitles format empty', path: `/api/task/${task}/subtitles?format=`, init: () => ({}), status: 400, code: 'E_FORMAT_UNSUPPORTED' },
  { name: 'subtitles format given twice', path: `/api/task/${task}/subtitles?format=vtt&format=srt`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'subtitles with an unknown parameter', path: `/api/task/${task}/subtitles?lines=3`, init: () => ({}), status: 400, code: 'E_INVALID_ARGUMENT' },
  // POST /v1/audio/speech (OpenAI's shape; the code is ours)
  { name: 'speech: malformed JSON', path: '/v1/audio/speech', init: () => raw('{"input": '), status: 400, code: 'E_MALFORMED_JSON' },
  { name: 'speech: missing input', path: '/v1/audio/speech', init: () => jsonPost({ model: 'tts-1', voice: 'alloy' }), status: 400, code: 'E_INVALID_ARGUMENT', message: /`input`/u },
  { name: 'speech: missing voice', path: '/v1/audio/speech', init: () => jsonPost({ model: 'tts-1', input: '你好' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'speech: voice as a number', path: '/v1/audio/speech', init: () => jsonPost({ model: 'tts-1', input: '你好', voice: 7 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'speech: voice object with extra fields',
    path: '/v1/audio/speech',
    init: () => jsonPost({ model: 'tts-1', input: '你好', voice: { id: missing, x: 1 } }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  { name: 'speech: an unknown voice name', path: '/v1/audio/speech', init: () => jsonPost({ model: 'tts-1', input: '你好', voice: '../../etc' }), status: 404, code: 'E_VOICE_NOT_FOUND' },
  { name: 'speech: an unknown model', path: '/v1/audio/speech', init: () => jsonPost({ model: 'dall-e-3', input: '你好', voice: 'alloy' }), status: 404, code: 'E_MODEL_NOT_FOUND' },
  { name: 'speech: an empty model', path: '/v1/audio/speech', init: () => jsonPost({ model: '', input: '你好', voice: 'alloy' }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'speech: format aiff',
    path: '/v1/audio/speech',
    init: () => jsonPost({ model: 'tts-1', input: '你好', voice: 'alloy', response_format: 'aiff' }),
    status: 400,
    code: 'E_FORMAT_UNSUPPORTED',
  },
  { name: 'speech: speed 0', path: '/v1/audio/speech', init: () => jsonPost({ model: 'tts-1', input: '你好', voice: 'alloy', speed: 0 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  {
    name: 'speech: stream_format json',
    path: '/v1/audio/speech',
    init: () => jsonPost({ model: 'tts-1', input: '你好', voice: 'alloy', stream_format: 'json' }),
    status: 400,
    code: 'E_INVALID_ARGUMENT',
  },
  {
    name: 'speech: instructions',
    path: '/v1/audio/speech',
    init: () => jsonPost({ model: 'tts-1', input: '你好', voice: 'alloy', instructions: 'Sing it.' }),
    status: 400,
    code: 'E_INSTRUCTIONS_UNSUPPORTED',
  },
  { name: 'speech: an unknown field', path: '/v1/audio/speech', init: () => jsonPost({ model: 'tts-1', input: '你好', voice: 'alloy', temperature: 1 }), status: 400, code: 'E_INVALID_ARGUMENT' },
  { name: 'speech: empty input', path: '/v1/audio/speech', init: () => jsonPost({ model: 'tts-1', input: '。。', voice: 'alloy' }), status: 400, code: 'E_TEXT_EMPTY' },
  { name: 'speech: input over the limit', path: '/v1/audio/speech', init: () => jsonPost({ model: 'tts-1', input: '长'.repeat(3001), voice: 'alloy' }), status: 413, code: 'E_TEXT_TOO_LONG' },
  { name: 'speech: a text/plain body', path: '/v1/audio/speech', init: () => raw('hello', 'text/plain'), status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'models: an unknown model', path: '/v1/models/whisper-1', init: () => ({}), status: 404, code: 'E_MODEL_NOT_FOUND' },
  { name: 'an unknown /v1 route', path: '/v1/chat/completions', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  // the WebSocket route without a WebSocket
  { name: 'a plain GET on the WebSocket route', path: '/api/ws', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  // routes and methods
  { name: 'an unknown route', path: '/api/nothing-here', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'a wrong method', path: '/api/synthesis', init: () => ({ method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'GET on the submit route', path: '/api/synthesis', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'a path traversal', path: '/api/../../etc/passwd', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  // the web page's assets: plain file names only
  { name: 'a missing asset', path: '/assets/missing-0000.js', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'an asset path out of its folder', path: '/assets/..%2F..%2Fpackage.json', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'an asset in a subfolder', path: '/assets/a%2Fb.js', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'a dot file among the assets', path: '/assets/.env', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'an asset name with a NUL', path: '/assets/index.js%00.png', init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'an over-long asset name', path: `/assets/${'a'.repeat(300)}.js`, init: () => ({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
  { name: 'POST to the page', path: '/', init: () => jsonPost({}), status: 404, code: 'E_ROUTE_NOT_FOUND' },
];

const protocolCases: ProtocolCase[] = [
  { name: 'a Content-Length that is not a number', bytes: () => Buffer.from('POST /api/synthesis HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'), status: 400, code: 'E_MALFORMED_HTTP' },
  {
    name: 'Content-Length with Transfer-Encoding',
    bytes: () => Buffer.from('POST /api/synthesis HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    status: 400,
    code: 'E_MALFORMED_HTTP',
  },
  { name: 'an unknown method', bytes: () => Buffer.from('FOO / HTTP/1.1\r\nHost: x\r\n\r\n'), status: 400, code: 'E_MALFORMED_HTTP' },
  {
    name: 'a raw non-ASCII byte in the path',
    bytes: () => Buffer.concat([Buffer.from('GET /api/tasks'), Buffer.from([0xff]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]),
    status: 400,
    code: 'E_MALFORMED_HTTP',
  },
  { name: 'a NUL byte in the path', bytes: () => Buffer.from('GET /api/\u0000 HTTP/1.1\r\nHost: x\r\n\r\n'), status: 400, code: 'E_MALFORMED_HTTP' },
  { name: 'a 20 KB header', bytes: () => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`), status: 431, code: 'E_HEADERS_TOO_LARGE' },
];

const uploadCases: UploadCase[] = [
  // Fixed bytes: fresh random ones are now and then taken by ffprobe for some media format (once, "lrc" lyrics: 415 E_AUDIO_UNSUPPORTED_FORMAT).
  { name: 'random bytes', file: () => ({ name: 'a.wav', data: noise(20_000) }), code: 'E_AUDIO_UNREADABLE' },
  { name: 'a text file named .wav', file: () => ({ name: 'a.wav', data: Buffer.from('not audio\n'.repeat(500)) }), code: 'E_AUDIO_UNREADABLE' },
  {
    name: 'an HTML page',
    file: () => ({ name: 'a.mp3', data: Buffer.from(`<!DOCTYPE html>\n<html><head><title>x</title></head><body>${'<p>not audio</p>\n'.repeat(300)}</body></html>\n`) }),
    code: 'E_AUDIO_UNREADABLE',
  },
  { name: 'a video without sound', file: async () => ({ name: 'v.mp4', data: await readFile(await makeSilentVideo(join(service.dataDir, 'v.mp4'))) }), code: 'E_AUDIO_NO_AUDIO_STREAM' },
];
for (const upload of uploadCases) {
  cases.push(
    { name: `a voice from ${upload.name}`, path: '/api/voices', init: async () => multipart({ name: 'x', ...CONSENT_FIELDS }, await upload.file()), status: 415, code: upload.code },
    {
      name: `a synthesis reference from ${upload.name}`,
      path: '/api/synthesis',
      init: async () => multipart({ text: '你好', ...CONSENT_FIELDS }, await upload.file()),
      status: 415,
      code: upload.code,
    },
  );
}

// One test per case, so a failure does not hide the cases after it.
for (const c of cases) {
  test(`bad input: ${c.name} → ${c.status} ${c.code}`, async () => {
    const { status, body } = await service.request(c.path, await c.init());
    assert.ok(status < 500, `no 5xx: ${status} ${JSON.stringify(body)?.slice(0, 500)}`);
    assert.equal(status, c.status, JSON.stringify(body)?.slice(0, 500));
    assert.equal(body?.error?.code, c.code, JSON.stringify(body)?.slice(0, 500));
    assert.ok(typeof body.error.message === 'string' && body.error.message.length > 10, 'the message says what to fix');
    if (c.message) assert.match(body.error.message, c.message);
    // OpenAI's shape on /v1: the same code, with a type and the field at fault (or null).
    if (c.path.startsWith('/v1/')) assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  });
}

for (const c of protocolCases) {
  test(`bad HTTP: ${c.name} → ${c.status} ${c.code}, in the API's error shape, connection closed`, async () => {
    const { status, headers, body } = await sendRawBytes(service.url, c.bytes());
    assert.equal(status, c.status, headers);
    assert.equal(body?.error?.code, c.code, JSON.stringify(body));
    assert.ok(typeof body.error.message === 'string' && body.error.message.length > 10);
    assert.match(headers, /^connection: close$/mu);
  });
}

test('a request arriving while the service closes gets 503 E_NOT_READY in the API shape', async () => {
  const closing = await startTestService();
  const { hostname, port } = new URL(closing.url);
  // A request in progress on an open connection: the server waits for it when it closes.
  const socket = connect(Number(port), hostname);
  await new Promise((resolve) => socket.once('connect', resolve));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  const stopped = closing.stop();
  // The server has begun to close once it refuses new connections.
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const probe = connect(Number(port), hostname);
      probe.once('connect', () => {
        probe.destroy();
        resolve(false);
      });
      probe.once('error', () => resolve(true));
    });
    if (refused) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  socket.write('\r\n');
  await ended;
  await stopped;
  const [head = '', body = ''] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n', 2);
  assert.match(head, /^HTTP\/1\.1 503 /u);
  assert.equal(JSON.parse(body).error.code, 'E_NOT_READY', body);
});

test('after all the bad input the service still serves', async () => {
  assert.ok(cases.length >= 120, `${cases.length} cases`);
  assert.equal((await service.request('/healthz')).status, 200);
  const { status } = await service.request('/api/synthesis', jsonPost({ text: '还在工作。' }));
  assert.equal(status, 202);
});
