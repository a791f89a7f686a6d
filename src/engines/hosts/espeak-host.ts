/**
 * espeak: the embedded CPU engine host. espeak-ng compiled with Emscripten (npm
 * @echogarden/espeak-ng-emscripten, GPL-3.0: hence its own process). It reads Mandarin with the
 * `cmn` voice and English runs with `en-us`, honours forced readings by substituting pinyin
 * syllables (which the `cmn` voice reads with their tones), and FOLLOWS a reference voice's
 * median pitch and, when the transcript is given, its speaking rate. It does NOT clone timbre:
 * every voice sounds like espeak.
 */

import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import initEspeak, { type ESpeakNGWorker } from '@echogarden/espeak-ng-emscripten';
import { isMainModule, runHost, type HostEngine } from '../host-runtime.js';
import type { Pronunciation, VoiceReference } from '../protocol.js';
import { medianPitchHz } from '../../audio/pitch.js';
import { decodeWav, encodeWav } from '../../audio/wav.js';
import { TtsError } from '../../errors.js';

type EspeakVoice = 'cmn' | 'en-us';

/** espeak's words-per-minute when no reference says otherwise. 175 is espeak's default, slow for Mandarin. */
const DEFAULT_RATE = 200;
const DEFAULT_PITCH = 50;
/** Syllables per second each voice speaks at 175 wpm (measured), to turn a speaking rate into wpm. */
const SYLLABLES_PER_SECOND_AT_175 = { cmn: 3.6, 'en-us': 4.4 } as const;
/** Median F0 (Hz) each voice gives at pitch 0, 25, 50, 75, 100 (measured on this build). */
const PITCH_CURVE: Record<EspeakVoice, number[]> = { cmn: [63, 77, 97, 125, 161], 'en-us': [72, 90, 107, 130, 170] };
const VOICE_CACHE_SIZE = 64;
/** The longest language run, in UTF-8 bytes, that espeak is handed at once. A 200-character
 * segment stays far below it even with every character forced to a 200-letter pinyin. */
const MAX_RUN_BYTES = 256 * 1024;

export interface VoiceStyle {
  /** Median F0 of the reference, Hz. */
  pitchHz: number | undefined;
  /** Syllables per second of the reference, when its transcript is known. */
  syllablesPerSecond: number | undefined;
}

interface Run {
  voice: EspeakVoice;
  text: string;
}

const HAN = /\p{Script=Han}/u;
// A run of Latin words with the spaces, digits and ASCII punctuation between them.
const LATIN_RUN = /[A-Za-z][A-Za-z0-9'’.-]*(?:[ ,.!?;:"'()-]+[A-Za-z0-9][A-Za-z0-9'’.-]*)*[.!?,;:]?/gu;

/** Pinyin replacements are wrapped in this private-use marker so they are never routed to English. */
const PINYIN_OPEN = '\uE000';
const PINYIN_CLOSE = '\uE001';

export function applyPronunciations(text: string, pronunciations: readonly Pronunciation[]): string {
  // Longest first, so that "重庆" wins over "重" when both are given.
  const ordered = [...pronunciations].sort((a, b) => b.text.length - a.text.length);
  let result = text;
  for (const { text: word, pinyin } of ordered) result = result.replaceAll(word, ` ${PINYIN_OPEN}${pinyin}${PINYIN_CLOSE} `);
  return result;
}

/** Splits text into runs for the Mandarin and English voices. */
export function splitLanguageRuns(text: string): Run[] {
  const runs: Run[] = [];
  const push = (voice: EspeakVoice, piece: string): void => {
    const last = runs.at(-1);
    if (last?.voice === voice || (last !== undefined && piece.trim() === '')) last.text += piece;
    else runs.push({ voice, text: piece });
  };
  // Text without any Han character is English (or digits) throughout.
  if (!HAN.test(text) && !text.includes(PINYIN_OPEN)) return [{ voice: 'en-us', text }];
  const pieces = text.split(new RegExp(`(${PINYIN_OPEN}[^${PINYIN_CLOSE}]*${PINYIN_CLOSE})`, 'u'));
  for (const piece of pieces) {
    if (piece.startsWith(PINYIN_OPEN)) {
      push('cmn', piece.slice(1, -1));
      continue;
    }
    let at = 0;
    for (const match of piece.matchAll(LATIN_RUN)) {
      if (match.index > at) push('cmn', piece.slice(at, match.index));
      push('en-us', match[0]);
      at = match.index + match[0].length;
    }
    if (at < piece.length) push('cmn', piece.slice(at));
  }
  return runs.filter((run) => run.text.trim() !== '');
}

/** espeak's pitch parameter (0–100) that gives about `hz` on this voice. */
export function pitchParameterFor(hz: number, voice: EspeakVoice): number {
  const curve = PITCH_CURVE[voice];
  if (hz <= curve[0]!) return 0;
  for (let i = 1; i < curve.length; i++) {
    const low = curve[i - 1]!;
    const high = curve[i]!;
    if (hz <= high) return Math.round((i - 1 + (hz - low) / (high - low)) * 25);
  }
  return 100;
}

/** Rough syllable count: one per Han character, vowel groups in Latin words, one per digit. */
export function countSyllables(text: string): number {
  let count = 0;
  for (const ch of text) if (HAN.test(ch)) count++;
  for (const word of text.match(/[A-Za-z]+/gu) ?? []) count += Math.max(1, (word.toLowerCase().match(/[aeiouy]+/gu) ?? []).length);
  count += (text.match(/\d/gu) ?? []).length;
  return count;
}

export function measureVoiceStyle(voice: VoiceReference): VoiceStyle {
  const audio = decodeWav(readFileSync(voice.audioPath), 'reference');
  const seconds = audio.samples.length / audio.channels / audio.sampleRate;
  const syllables = countSyllables(voice.promptText);
  return {
    pitchHz: medianPitchHz(audio.samples, audio.sampleRate),
    syllablesPerSecond: syllables >= 3 && seconds > 0 ? syllables / seconds : undefined,
  };
}

function escapeSsml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function concat(chunks: Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

async function createEspeakEngine(): Promise<HostEngine> {
  const module = await initEspeak();
  const tts: ESpeakNGWorker = new module.eSpeakNGWorker();
  const packageVersion = (createRequire(import.meta.url)('@echogarden/espeak-ng-emscripten/package.json') as { version: string }).version;
  // The voices used most recently keep their measured style.
  const styles = new LRUCache<string, VoiceStyle>({ max: VOICE_CACHE_SIZE });

  const styleFor = (voice: VoiceReference | undefined): VoiceStyle | undefined => {
    if (voice === undefined) return undefined;
    const key = createHash('sha256').update(`${voice.sha256}\n${voice.promptText}\n${tts.samplerate}`).digest('hex');
    let style = styles.get(key);
    if (style === undefined) {
      style = measureVoiceStyle(voice);
      styles.set(key, style);
    }
    return style;
  };

  const speak = (run: Run, style: VoiceStyle | undefined): Int16Array => {
    if (tts.set_voice(run.voice) !== 0) throw new TtsError('E_ENGINE_FAILED', `espeak has no "${run.voice}" voice.`);
    const rate = style?.syllablesPerSecond === undefined ? DEFAULT_RATE : Math.round((175 * style.syllablesPerSecond) / SYLLABLES_PER_SECOND_AT_175[run.voice]);
    tts.set_rate(Math.min(450, Math.max(80, rate)));
    tts.set_pitch(style?.pitchHz === undefined ? DEFAULT_PITCH : pitchParameterFor(style.pitchHz, run.voice));
    const chunks: Int16Array[] = [];
    tts.synthesize(escapeSsml(run.text), (samples) => {
      if (samples.length > 0) chunks.push(samples);
      return false;
    });
    return concat(chunks);
  };

  // Warm up before `ready`: the first syntheses are slow while the engine's JavaScript is compiled.
  for (const run of splitLanguageRuns('你好，这是预热。Warming up.')) speak(run, undefined);
  // espeak keeps state between utterances (pitch flutter phase, buffers): the same text gives a
  // few samples more or less depending on what came before, so a retried segment, or `say`
  // against the service, would differ. Every segment starts from a copy of the warmed-up memory
  // instead (17 MB, about 1 ms to copy back), so its audio depends on its request only.
  // The bindings pass strings through one buffer they malloc and keep; it must exist, large
  // enough for every run, before the copy is taken, or a later malloc would be undone under it.
  // (The first call asks for the size, the second allocates it.)
  tts.set_voice('x'.repeat(MAX_RUN_BYTES));
  tts.set_voice('cmn');
  const warmedUp = module.HEAPU8.slice();
  const resetToWarmedUp = (): void => {
    const memory = module.HEAPU8;
    memory.set(warmedUp);
    memory.fill(0, warmedUp.length);
  };

  return {
    capabilities: {
      engine: 'espeak',
      version: `espeak-ng (emscripten build ${packageVersion})`,
      sampleRates: [tts.samplerate],
      cloning: false,
      voiceFollowing: ['pitch', 'rate'],
      phonemeControl: true,
      languages: ['zh', 'en'],
      maxSegmentChars: 200,
      maxBatch: 1,
      requiresVoice: false,
      options: [],
      deterministic: 'always',
    },
    async synthesize(request, signal) {
      if (request.sampleRate !== undefined && request.sampleRate !== tts.samplerate) {
        throw new TtsError('E_ENGINE_REJECTED', `espeak writes ${tts.samplerate} Hz only, ${request.sampleRate} Hz was asked.`);
      }
      const style = styleFor(request.voice);
      const runs = splitLanguageRuns(applyPronunciations(request.text, request.pronunciations ?? []));
      if (runs.some((run) => Buffer.byteLength(escapeSsml(run.text)) >= MAX_RUN_BYTES)) {
        throw new TtsError('E_ENGINE_REJECTED', `espeak takes at most ${MAX_RUN_BYTES} bytes of one language at once, forced readings included; send shorter segments.`);
      }
      resetToWarmedUp();
      const parts: Int16Array[] = [];
      for (const run of runs) {
        // espeak is synchronous: a cancel is honoured between language runs.
        if (signal.aborted) throw new TtsError('E_CANCELED', 'The segment was canceled.');
        parts.push(speak(run, style));
        await new Promise((resolve) => setImmediate(resolve)); // lets a `cancel` line be read
      }
      const samples = concat(parts);
      writeFileSync(request.outPath, encodeWav({ sampleRate: tts.samplerate, channels: 1, samples }));
      return { sampleRate: tts.samplerate, durationMs: (samples.length / tts.samplerate) * 1000 };
    },
  };
}

// Started as a host process: `node espeak-host.js`. Imported (by tests), it does nothing.
if (isMainModule(import.meta.url)) {
  await runHost(createEspeakEngine);
}
