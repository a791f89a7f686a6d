import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ffprobePath } from '../audio/binaries.js';
import { makeTone } from '../audio/testing/fixtures.js';
import { decodeWav } from '../audio/wav.js';
import { parseScript, speakerVoices } from './script.js';
import { startTestService } from '../service/testing/test-service.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'say-script-test-'));
test.after(async () => await rm(dir, { recursive: true, force: true }));

function say(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'say', '--quiet', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a screenplay: speakers by name, narration, chapters from "# Title", blank lines skipped', () => {
  const voices = speakerVoices(['ANNA=/a.wav', 'Bo=/b.wav']);
  const parts = parseScript('# One\n\nANNA: Hello there.\nHe said: nothing much.\nBo: Hi.\n# Two\nANNA：再见。\n', voices);
  assert.deepEqual(parts, [
    { text: 'Hello there.', voicePath: '/a.wav', chapter: 'One' },
    { text: 'He said: nothing much.' },
    { text: 'Hi.', voicePath: '/b.wav' },
    { text: '再见。', voicePath: '/a.wav', chapter: 'Two' },
  ]);
  assert.throws(() => parseScript('CARL: who am I?', voices), /CARL=FILE/u);
  assert.throws(() => speakerVoices(['no-name.wav']), /NAME=FILE/u);
});

test('JSON Lines: a voice by speaker name or by file, pauses and chapters passed on', () => {
  const parts = parseScript('{"text": "One.", "voice": "A", "chapter": "C1"}\n\n{"text": "Two.", "voice": "/x.wav", "pause_ms": 800}\n', speakerVoices(['A=/a.wav']));
  assert.deepEqual(parts, [
    { text: 'One.', voicePath: '/a.wav', chapter: 'C1' },
    { text: 'Two.', voicePath: '/x.wav', pause_ms: 800 },
  ]);
  assert.throws(() => parseScript('{"text": "x", "speed": 2}', new Map()), /unknown field "speed"/u);
  assert.throws(() => parseScript('{"text": "x"}\nnot json', new Map()), /Line 2/u);
});

test('say --script: two speakers and a narrator into one m4b with its chapters', async () => {
  const low = await makeTone(join(dir, 'low.wav'), { seconds: 4, frequencyHz: 75 });
  const high = await makeTone(join(dir, 'high.wav'), { seconds: 4, frequencyHz: 145 });
  const script = join(dir, 'play.txt');
  await writeFile(script, '# Act one\nANNA: Good morning, how are you today?\nBO: Very well, thank you for asking.\n\n# Act two\nThe narrator closes the scene.\n');
  const out = join(dir, 'play.m4b');
  const run = await say(['--script', script, '--voice', `ANNA=${low}`, '--voice', `BO=${high}`, '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  const { stdout } = await promisify(execFile)(ffprobePath(), ['-v', 'error', '-show_chapters', '-of', 'json', out]);
  const chapters = (JSON.parse(stdout) as { chapters: Array<{ tags: { title: string } }> }).chapters;
  assert.deepEqual(
    chapters.map((c) => c.tags.title),
    ['Act one', 'Act two'],
  );
});

test('say --script in JSON Lines with pauses gives a wav; a speaker without a voice is refused', async () => {
  const voice = await makeTone(join(dir, 'v.wav'), { seconds: 4, frequencyHz: 105 });
  const script = join(dir, 'lines.jsonl');
  await writeFile(script, `{"text": "First line.", "voice": "V", "pause_ms": 1000}\n{"text": "Second line.", "voice": ${JSON.stringify(voice)}}\n`);
  const out = join(dir, 'lines.wav');
  const run = await say(['--script', script, '--voice', `V=${voice}`, '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(decodeWav(await readFile(out)).samples.length > 0);
  const missing = await say(['--script', join(dir, 'play.txt'), '--voice', `ANNA=${voice}`, '--out', join(dir, 'x.wav')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /BO=FILE/u);
});

test('say --server --script: each speaker stored as a voice on the service, the parts sent with their ids, chapters in the mp3', async () => {
  const service = await startTestService({ ENGINE: 'espeak', ENGINE_HOSTS: '1' });
  try {
    const a = await makeTone(join(dir, 'server-a.wav'), { seconds: 4, frequencyHz: 75 });
    const b = await makeTone(join(dir, 'server-b.wav'), { seconds: 4, frequencyHz: 145 });
    const script = join(dir, 'server.txt');
    await writeFile(script, '# Scene\nANNA: Good morning.\nBO: Good morning to you.\nANNA: Shall we begin?\n');
    const out = join(dir, 'server.mp3');
    const run = await say(['--server', service.url, '--script', script, '--voice', `ANNA=${a}`, '--voice', `BO=${b}`, '--speaker-name', 'The cast', '--out', out]);
    assert.equal(run.code, 0, run.stderr);
    const voices = (await service.request('/api/voices')).body.voices as unknown[];
    assert.equal(voices.length, 2, 'one voice a speaker');
    const { stdout } = await promisify(execFile)(ffprobePath(), ['-v', 'error', '-show_chapters', '-of', 'json', out]);
    assert.deepEqual(
      (JSON.parse(stdout) as { chapters: Array<{ tags: { title: string } }> }).chapters.map((c) => c.tags.title),
      ['Scene'],
    );
  } finally {
    await service.stop();
  }
});
