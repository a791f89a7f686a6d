/** `tts-queue say`: synthesise text to an audio file on this machine, without the service. */

import { access, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createProgressBar } from './progress.js';
import { OUTPUT_FORMATS, OUTPUT_FORMAT_NAMES, parseOutputFormat, type OutputFormat } from '../audio/output.js';
import { EnginePool } from '../engines/engine-pool.js';
import { ENGINE_NAMES, hostSpec } from '../engines/registry.js';
import { TtsError } from '../errors.js';
import { charCount } from '../text/normalize.js';
import { checkPronunciationsOccur, parsePronunciations } from '../text/pronunciations.js';
import { DEFAULT_MAX_TEXT_CHARS, prepareText, synthesizeText } from '../synthesis/synthesize-text.js';

export const SAY_USAGE = `Usage: tts-queue say [TEXT | --file FILE | -] [options]

Reads TEXT (or a UTF-8 file, or standard input with "-") aloud into an audio file.

Options:
  --file FILE           read the text from FILE
  --voice FILE          reference recording of a voice to follow (wav, mp3, m4a, ogg, webm, flac; 2-30 s of speech)
  --prompt-text TEXT    transcript of the reference recording
  --pronounce JSON      forced readings, e.g. '[{"text":"重","pinyin":"chong2"}]'
  --format FORMAT       ${OUTPUT_FORMAT_NAMES.join(' | ')} (default: from --out's extension, else wav)
  --out FILE            where to write the audio (default: speech.<format>)
  --engine NAME         ${ENGINE_NAMES.join(' | ')} (default: espeak)
  --engines N           engine hosts in parallel (default: one per core, less one for
                        the encoder of mp3/opus, at most one per 10,000 characters)
  --seed N              seed for engines that sample
  --pause-ms N          silence between segments (default 200)
  --max-chars N         longest text accepted (default ${DEFAULT_MAX_TEXT_CHARS})
  --json                print the result as JSON on standard output
  --quiet               no progress bar, no summary
  -h, --help            this help`;

function integerOption(name: string, raw: string | undefined, min: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new TtsError('E_INVALID_ARGUMENT', `Expected --${name} to be an integer from ${min} and up, got "${raw}".`);
  return value;
}

async function readTextArgument(positionals: string[], file: string | undefined): Promise<string> {
  if (file !== undefined && positionals.length > 0) throw new TtsError('E_INVALID_ARGUMENT', 'Give the text either as an argument or with --file, not both.');
  if (file !== undefined) return await readTextFile(file);
  if (positionals.length === 0) throw new TtsError('E_INVALID_ARGUMENT', 'No text given. Pass TEXT, --file FILE, or "-" to read standard input.');
  if (positionals.length === 1 && positionals[0] === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  return positionals.join(' ');
}

async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new TtsError('E_FILE_NOT_FOUND', `Cannot read the text file "${path}" (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: error });
  }
}

function formatFromPath(path: string): string | undefined {
  const extension = path.split('.').pop()?.toLowerCase();
  const match = Object.entries(OUTPUT_FORMATS).find(([, f]) => f.extension === extension);
  return match?.[0];
}

/** Characters of text that repay starting one more espeak host (measured: docs/benchmarks.md). */
const CHARS_PER_EXTRA_HOST = 10_000;

/**
 * As many hosts as help: one per core, less one for ffmpeg when it must encode (mp3, opus), and
 * one per 10,000 characters at most, since a fresh espeak host spends its first second being
 * compiled, which a short text does not repay.
 */
function defaultEngineHosts(format: OutputFormat, textChars: number): number {
  const cores = availableParallelism();
  const forCores = OUTPUT_FORMATS[format].ffmpegArgs === null ? cores : cores - 1;
  return Math.max(1, Math.min(forCores, Math.ceil(textChars / CHARS_PER_EXTRA_HOST)));
}

export async function runSay(argv: string[], signal: AbortSignal): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      file: { type: 'string' },
      voice: { type: 'string' },
      'prompt-text': { type: 'string' },
      pronounce: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      engine: { type: 'string', default: 'espeak' },
      engines: { type: 'string' },
      seed: { type: 'string' },
      'pause-ms': { type: 'string' },
      'max-chars': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${SAY_USAGE}\n`);
    return;
  }
  const format = parseOutputFormat(values.format ?? (values.out && formatFromPath(values.out)) ?? 'wav');
  const outPath = resolve(values.out ?? `speech.${OUTPUT_FORMATS[format].extension}`);
  const seed = integerOption('seed', values.seed, 0, 0);
  const pauseMs = integerOption('pause-ms', values['pause-ms'], 0, 200);
  const maxTextChars = integerOption('max-chars', values['max-chars'], 1, DEFAULT_MAX_TEXT_CHARS);
  let pronunciations;
  if (values.pronounce !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values.pronounce);
    } catch {
      throw new TtsError('E_PRONUNCIATION_INVALID', `--pronounce must be JSON, e.g. '[{"text":"重","pinyin":"chong2"}]'.`);
    }
    pronunciations = parsePronunciations(parsed);
  }
  const spec = hostSpec(values.engine);
  if (values.voice !== undefined) {
    await access(values.voice).catch((error: NodeJS.ErrnoException) => {
      throw new TtsError('E_FILE_NOT_FOUND', `Cannot read the voice file "${values.voice}" (${error.code ?? 'error'}).`);
    });
  }
  // Refuse bad text before any engine starts.
  const text = prepareText(await readTextArgument(positionals, values.file), maxTextChars);
  if (pronunciations !== undefined) checkPronunciationsOccur(text, pronunciations);
  const engines = integerOption('engines', values.engines, 1, defaultEngineHosts(format, charCount(text)));

  // A one-shot run fails rather than wait on hosts that keep dying (a service's pools never give up).
  const pool = new EnginePool({ spec, size: engines, giveUpAfterDeaths: 5, onEvent: (event) => {
    if (event.type === 'host:lost' && !values.quiet) process.stderr.write(`\nengine host ${event.pid ?? ''} was lost; restarting it\n`);
  } });
  const bar = createProgressBar(process.stderr, !values.quiet);
  const started = performance.now();
  try {
    await pool.start();
    const result = await synthesizeText({
      text, pool, format, outPath, voicePath: values.voice, promptText: values['prompt-text'], pronunciations, seed, pauseMs, maxTextChars, signal,
      onProgress: ({ done, total }) => bar.update(done, total),
    });
    bar.finish();
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    if (!values.quiet) {
      const seconds = (performance.now() - started) / 1000;
      process.stderr.write(
        `${result.outPath}: ${result.format}, ${(result.durationMs / 1000).toFixed(1)} s of audio, ${result.segments} segments, ${result.bytes} bytes, ` +
          `${seconds.toFixed(1)} s with ${engines} engine host${engines === 1 ? '' : 's'}${result.retries ? `, ${result.retries} segment retries` : ''}\n`,
      );
    }
  } finally {
    bar.finish();
    await pool.close();
  }
}
