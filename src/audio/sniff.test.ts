import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURE_FORMATS, makeTone, type FixtureFormat } from './testing/fixtures.js';
import { readFileHead, sniffAudioContainer, type SniffedContainer } from './sniff.js';

const dir = await mkdtemp(join(tmpdir(), 'sniff-test-'));
test.after(() => rm(dir, { recursive: true, force: true }));

const EXPECTED: Record<FixtureFormat, SniffedContainer> = { wav: 'wav', mp3: 'mp3', m4a: 'mp4', aac: 'aac', ogg: 'ogg', webm: 'webm', flac: 'flac' };

for (const format of Object.keys(FIXTURE_FORMATS) as FixtureFormat[]) {
  test(`a ${format} file written by ffmpeg is recognised as ${EXPECTED[format]}`, async () => {
    const path = await makeTone(join(dir, `tone.${format}`), { seconds: 0.5, format });
    assert.equal(sniffAudioContainer(await readFileHead(path)), EXPECTED[format]);
  });
}

test('an MPEG frame without an ID3 tag is recognised as mp3', () => {
  // MPEG-1 layer III, 128 kbit/s, 44.1 kHz.
  assert.equal(sniffAudioContainer(Buffer.from([0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0, 0, 0, 0, 0])), 'mp3');
});

const NOT_AUDIO: Record<string, Buffer> = {
  'an HTML page': Buffer.from('<!DOCTYPE html><html>'),
  'a JSON body': Buffer.from('{"error":"not found"}'),
  'plain text': Buffer.from('hello world, this is text'),
  'a PNG image': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]),
  'a RIFF file that is not WAVE (AVI)': Buffer.from('RIFF\0\0\0\0AVI '),
  'nothing at all': Buffer.alloc(0),
  'a lone 0xff byte': Buffer.from([0xff]),
  'an MPEG sync with the reserved version': Buffer.from([0xff, 0xea, 0x90, 0x64]),
  'an MPEG sync with the "bad" bitrate index': Buffer.from([0xff, 0xfb, 0xf0, 0x64]),
};

for (const [name, bytes] of Object.entries(NOT_AUDIO)) {
  test(`${name} is not audio`, () => {
    assert.equal(sniffAudioContainer(bytes), undefined);
  });
}
