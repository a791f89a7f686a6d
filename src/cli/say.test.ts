import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSilentVideo, makeTone, noise } from '../audio/testing/fixtures.js';
import { probeMedia } from '../audio/probe.js';
import { decodeWav } from '../audio/wav.js';
import { charCount } from '../text/normalize.js';
import { sampleChineseText } from '../text/testing/sample-text.js';
import { jsonPost, startTestService, waitForTask, type TestService } from '../service/testing/test-service.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'say-test-'));
// Scratch folders of runs under test go here, so that leftovers can be counted.
const scratchRoot = await mkdtemp(join(tmpdir(), 'say-scratch-'));
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(scratchRoot, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function say(args: string[], options: { stdin?: string; onSpawn?: (pid: number) => Promise<void> | void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'say', ...args], { env: { ...process.env, TMPDIR: scratchRoot }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin);
    void options.onSpawn?.(child.pid!);
  });
}

/** Process ids whose parent is `pid` (from /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/u.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) children.push(Number(entry));
  }
  return children;
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length);
}

const text2000 = sampleChineseText(2_000);

test('2,000 characters of Chinese with English words become real speech in mp3', async () => {
  const out = join(dir, 'lecture.mp3');
  const run = await say([text2000, '--format', 'mp3', '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  const probe = await probeMedia(out);
  assert.equal(probe.audio?.codec, 'mp3');
  // Spoken Mandarin runs at roughly 3–6 characters a second.
  const seconds = (probe.durationMs ?? 0) / 1000;
  const chars = charCount(text2000);
  assert.ok(seconds > chars / 8 && seconds < chars / 2, `${seconds.toFixed(0)} s for ${chars} characters`);
});

test('two engine hosts give the same audio as one', async () => {
  const one = join(dir, 'one.wav');
  const two = join(dir, 'two.wav');
  assert.equal((await say([text2000, '--engines', '1', '--out', one])).code, 0);
  assert.equal((await say([text2000, '--engines', '2', '--out', two])).code, 0);
  const a = await readFile(one);
  assert.ok(rms(decodeWav(a).samples) > 500, 'not silent');
  // Each segment's audio depends on its request only, not on which host made it.
  assert.ok(a.equals(await readFile(two)), 'the same bytes');
});

test('kill -9 of an engine host mid-run: its segment runs again and the output is complete', async () => {
  const text = sampleChineseText(6_000);
  const expected = join(dir, 'expected.wav');
  assert.equal((await say([text, '--engines', '1', '--out', expected])).code, 0);

  const out = join(dir, 'survived.wav');
  const before = new Set(await readdir(scratchRoot, { recursive: true }));
  let killed: number | undefined;
  const run = await say([text, '--engines', '1', '--out', out, '--json'], {
    onSpawn: async (cli) => {
      let host: number | undefined;
      while (host === undefined) {
        await new Promise((r) => setTimeout(r, 20));
        [host] = await childrenOf(cli);
      }
      // Once the host has said ready and finished a segment (it wrote one), kill it: a state, not a delay.
      while (!(await readdir(scratchRoot, { recursive: true })).some((path) => /segment-\d+\.wav$/u.test(path) && !before.has(path))) {
        await new Promise((r) => setTimeout(r, 20));
      }
      killed = host;
      process.kill(host, 'SIGKILL');
    },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(killed !== undefined, 'a host was killed');
  assert.match(run.stderr, /was lost; restarting/u);
  // The segment that ran again on the new host gives the same samples: the output is the whole text.
  assert.ok((await readFile(out)).equals(await readFile(expected)), 'the same bytes as a run without the kill');
});

test('text from a file and from standard input', async () => {
  const file = join(dir, 'notes.txt');
  await writeFile(file, '第一行。\nSecond line.');
  const fromFile = await say(['--file', file, '--out', join(dir, 'file.flac')]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal((await probeMedia(join(dir, 'file.flac'))).audio?.codec, 'flac');
  const fromStdin = await say(['-', '--out', join(dir, 'stdin.ogg')], { stdin: '标准输入的文字。' });
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.equal((await probeMedia(join(dir, 'stdin.ogg'))).audio?.codec, 'opus');
});

test('a reference voice in m4a is accepted (following it is tested with the espeak host)', async () => {
  const voice = await makeTone(join(dir, 'voice.m4a'), { seconds: 5, silence: 0.5, format: 'm4a' });
  const run = await say(['你好。', '--voice', voice, '--prompt-text', '这是参考音频的文字内容。', '--out', join(dir, 'voiced.wav')]);
  assert.equal(run.code, 0, run.stderr);
});

// `say` and the service run one pipeline (request checks, worker, assembly): the same request
// gives the same bytes and the same refusals. One espeak service serves these tests.
let service: TestService | undefined;
async function espeakService(): Promise<TestService> {
  service ??= await startTestService({ ENGINE: 'espeak', ENGINE_HOSTS: '1' });
  return service;
}
test.after(async () => await service?.stop());

test('say and the service give byte-identical audio for the same text, seed and format', async () => {
  const text = sampleChineseText(800);
  const api = await espeakService();
  const submitted = await api.request('/api/synthesis', jsonPost({ text, seed: 7, format: 'wav' }));
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const task = await waitForTask(api, submitted.body.id);
  assert.equal(task.status, 'completed', JSON.stringify(task));
  const fromService = Buffer.from(await (await fetch(`${api.url}/api/task/${submitted.body.id}/audio`)).arrayBuffer());

  const out = join(dir, 'same.wav');
  const run = await say([text, '--seed', '7', '--engines', '1', '--out', out, '--json']);
  assert.equal(run.code, 0, run.stderr);
  assert.ok((JSON.parse(run.stdout) as { segments: number }).segments > 1, 'several segments');
  const fromSay = await readFile(out);
  assert.ok(rms(decodeWav(fromSay).samples) > 500, 'not silent');
  assert.ok(fromSay.equals(fromService), `say wrote ${fromSay.length} bytes, the service ${fromService.length}`);
});

const apiRefusals: Array<{ name: string; fields: Record<string, unknown>; args: string[] }> = [
  { name: 'a seed out of range', fields: { seed: 2 ** 32 }, args: ['--seed', String(2 ** 32)] },
  { name: 'a transcript over 1,000 characters', fields: { prompt_text: '字'.repeat(1_001) }, args: ['--prompt-text', '字'.repeat(1_001)] },
];

for (const refusal of apiRefusals) {
  test(`say refuses ${refusal.name} as the API does, with its message`, async () => {
    const api = await espeakService();
    const answer = await api.request('/api/synthesis', jsonPost({ text: '你好。', ...refusal.fields }));
    assert.equal(answer.status, 400);
    const { code, message } = answer.body.error as { code: string; message: string };
    const out = join(dir, 'refused.wav');
    const run = await say(['你好。', ...refusal.args, '--out', out]);
    assert.equal(run.code, 2, run.stderr);
    assert.ok(run.stderr.includes(`tts-queue: ${code}: ${message}`), run.stderr);
    await assert.rejects(readFile(out), 'no output file');
  });
}

test('SIGINT cancels the task: exit 130, no output, no scratch, no engine host left', async () => {
  const out = join(dir, 'interrupted.wav');
  let host: number | undefined;
  const run = await say(['--file', await writeText('long.txt', sampleChineseText(60_000)), '--engines', '1', '--out', out], {
    onSpawn: async (cli) => {
      while (host === undefined) {
        await new Promise((r) => setTimeout(r, 20));
        [host] = await childrenOf(cli);
      }
      await new Promise((r) => setTimeout(r, 1_500)); // the host is at work
      process.kill(cli, 'SIGINT');
    },
  });
  assert.equal(run.code, 130, run.stderr);
  assert.match(run.stderr, /tts-queue: E_CANCELED: /u);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith('interrupted')),
    [],
    'no output, whole or partial',
  );
  assert.deepEqual(await readdir(scratchRoot), [], 'no scratch folder left');
  assert.equal(
    await readFile(`/proc/${host}/stat`, 'utf8').then(
      (stat) => !/\) Z /u.test(stat),
      () => false,
    ),
    false,
    'the engine host is gone',
  );
});

const badInputs: Array<{ name: string; args: () => Promise<string[]>; code: string; exit: number }> = [
  { name: 'empty text', args: async () => [''], code: 'E_TEXT_EMPTY', exit: 3 },
  { name: 'punctuation-only text', args: async () => ['。，！？……'], code: 'E_TEXT_EMPTY', exit: 3 },
  { name: 'a 1 MB text', args: async () => ['--file', await writeText('huge.txt', '语'.repeat(350_000))], code: 'E_TEXT_TOO_LONG', exit: 3 },
  { name: 'a missing text file', args: async () => ['--file', join(dir, 'nope.txt')], code: 'E_FILE_NOT_FOUND', exit: 3 },
  { name: 'random bytes as reference', args: async () => ['你好', '--voice', await writeBytes('random.wav', noise(1))], code: 'E_AUDIO_UNREADABLE', exit: 3 },
  { name: 'a truncated mp3', args: async () => ['你好', '--voice', await truncatedMp3()], code: 'E_AUDIO_TRUNCATED', exit: 3 },
  { name: 'a 0.2 s clip', args: async () => ['你好', '--voice', await makeTone(join(dir, 'short.wav'), { seconds: 0.2 })], code: 'E_AUDIO_TOO_SHORT', exit: 3 },
  { name: 'a 10-minute clip', args: async () => ['你好', '--voice', await makeTone(join(dir, 'long.mp3'), { seconds: 600, format: 'mp3', sampleRate: 8_000 })], code: 'E_AUDIO_TOO_LONG', exit: 3 },
  { name: 'a video with no audio', args: async () => ['你好', '--voice', await makeSilentVideo(join(dir, 'video.mp4'))], code: 'E_AUDIO_NO_AUDIO_STREAM', exit: 3 },
  { name: 'a text file named .wav', args: async () => ['你好', '--voice', await writeText('fake.wav', 'not audio at all\n'.repeat(50))], code: 'E_AUDIO_UNREADABLE', exit: 3 },
  { name: 'a missing reference', args: async () => ['你好', '--voice', join(dir, 'missing.wav')], code: 'E_FILE_NOT_FOUND', exit: 3 },
  { name: 'an unknown format', args: async () => ['你好', '--format', 'aiff'], code: 'E_FORMAT_UNSUPPORTED', exit: 2 },
  { name: 'an unknown engine', args: async () => ['你好', '--engine', 'nope'], code: 'E_ENGINE_UNKNOWN', exit: 2 },
  { name: 'zero engines', args: async () => ['你好', '--engines', '0'], code: 'E_INVALID_ARGUMENT', exit: 2 },
  { name: 'an unknown option', args: async () => ['你好', '--colour', 'red'], code: 'E_INVALID_ARGUMENT', exit: 2 },
  { name: 'malformed forced readings', args: async () => ['你好', '--pronounce', '[{"text":"重","pinyin":"chong"}]'], code: 'E_PRONUNCIATION_INVALID', exit: 3 },
  { name: 'forced readings that are not JSON', args: async () => ['你好', '--pronounce', '{oops'], code: 'E_PRONUNCIATION_INVALID', exit: 3 },
];

async function writeText(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

async function writeBytes(name: string, content: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

async function truncatedMp3(): Promise<string> {
  const whole = await makeTone(join(dir, 'whole.mp3'), { seconds: 10, format: 'mp3' });
  return await writeBytes('truncated.mp3', (await readFile(whole)).subarray(0, 30_000));
}

for (const bad of badInputs) {
  test(`bad input, ${bad.name}: ${bad.code}, exit ${bad.exit}, no stray files`, async () => {
    const out = join(dir, `bad-${bad.code}.wav`);
    const run = await say([...(await bad.args()), '--out', out]);
    assert.equal(run.code, bad.exit, run.stderr);
    assert.match(run.stderr, new RegExp(`tts-queue: ${bad.code}: .{20,}`, 'u'));
    assert.doesNotMatch(run.stderr, /\n\s+at /u, 'no stack trace');
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('bad-')),
      [],
      'no output file',
    );
    assert.deepEqual(await readdir(scratchRoot), [], 'no scratch folder left');
  });
}
