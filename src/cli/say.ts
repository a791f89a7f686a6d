/**
 * `tts-queue say`: synthesise text to an audio file on this machine, without the service, or
 * with --server on a running service (remote-say.ts); both take the same options and requests.
 */

import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createProgressBar } from './progress.js';
import { runRemoteSay } from './remote-say.js';
import { parseScript, speakerVoices, type ScriptPart } from './script.js';
import { OUTPUT_FORMATS, OUTPUT_FORMAT_NAMES, parseOutputFormat } from '../audio/output.js';
import { EnginePool } from '../engines/engine-pool.js';
import { EngineSet } from '../engines/engine-set.js';
import { ENGINE_NAMES, hostSpec } from '../engines/registry.js';
import { TtsError } from '../errors.js';
import { charCount } from '../text/normalize.js';
import { DEFAULT_MAX_TEXT_CHARS } from '../text/prepare.js';
import type { SubtitleFormat } from '../text/subtitles.js';
import { LocalSynthesis } from '../worker/local-synthesis.js';

export const SAY_USAGE = `Usage: tts-queue say [TEXT | --file FILE | -] [options]

Reads TEXT (or a UTF-8 file, or standard input with "-") aloud into an audio file.

Options:
  --file FILE           read the text from FILE
  --voice FILE          reference recording of a voice to follow (wav, mp3, m4a, ogg, webm, flac; 2-30 s of speech)
  --script FILE         a script of several voices: JSON Lines of parts ({"text", "voice", "pause_ms",
                        "chapter"}; voice: a speaker NAME or a recording's file), or a screenplay
                        ("NAME: line", "# Title" starts a chapter, blank lines skipped)
  --voice NAME=FILE     with --script: the recording of speaker NAME (once per speaker)
  --prompt-text TEXT    transcript of the reference recording
  --pronounce JSON      forced readings, e.g. '[{"text":"重","pinyin":"chong2"}]'
  --format FORMAT       ${OUTPUT_FORMAT_NAMES.join(' | ')} (default: from --out's extension, else wav)
  --out FILE            where to write the audio (default: speech.<format>)
  --subtitles FILE      also write subtitles: one cue per sentence, timed from the audio
                        (SRT when FILE ends in .srt, else WebVTT)
  --engine NAME         ${ENGINE_NAMES.join(' | ')} (default: espeak)
  --engines N           engine hosts in parallel (default: one per core, at most one
                        per 10,000 characters)
  --seed N              seed for engines that sample
  --pause-ms N          silence between segments (default 200)
  --max-chars N         longest text accepted (default ${DEFAULT_MAX_TEXT_CHARS})
  --json                print the result as JSON on standard output
  --quiet               no progress bar, no summary
  -h, --help            this help

On a running service (client mode):
  --server URL          send the text to the service at URL (http or https) instead of
                        synthesising here: the same options, its progress bar and errors;
                        Ctrl-C cancels the task there. --engines, --pause-ms and --max-chars
                        are the service's own settings, so they are refused here
  --key KEY             its API key (default: the environment variable TTS_QUEUE_KEY)
  --speaker-name NAME   with --voice: whose voice it is; giving it states that they agreed to
                        have it cloned, which the service asks for (with --script: for every
                        speaker's recording, each stored as a voice on the service)
  --no-reuse            run the engine even if the service keeps an identical result`;

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
 * As many hosts as help: one per core, and one per 10,000 characters at most, since a fresh
 * espeak host spends its first second being compiled, which a short text does not repay.
 * (The worker encodes once every segment is done, so ffmpeg does not compete with the hosts.)
 */
function defaultEngineHosts(textChars: number): number {
  return Math.max(1, Math.min(availableParallelism(), Math.ceil(textChars / CHARS_PER_EXTRA_HOST)));
}

/** Options that only the local pipeline takes, and only the service. */
const LOCAL_ONLY = ['engines', 'pause-ms', 'max-chars'] as const;
const SERVER_ONLY = ['key', 'speaker-name', 'no-reuse'] as const;

/** What both modes send: the fields of POST /api/synthesis, the reference file and where the audio goes. */
export interface SayRequest {
  fields: Record<string, unknown>;
  voicePath?: string;
  outPath: string;
  /** --subtitles: where to write them, and in which format. */
  subtitles?: { path: string; format: SubtitleFormat };
  /** A script's parts, their voices still recordings (stored as voices before the request is sent). */
  scriptParts?: ScriptPart[];
}

export async function runSay(argv: string[], signal: AbortSignal): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      file: { type: 'string' },
      voice: { type: 'string', multiple: true },
      script: { type: 'string' },
      'prompt-text': { type: 'string' },
      pronounce: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      subtitles: { type: 'string' },
      engine: { type: 'string' },
      engines: { type: 'string' },
      seed: { type: 'string' },
      'pause-ms': { type: 'string' },
      'max-chars': { type: 'string' },
      server: { type: 'string' },
      key: { type: 'string' },
      'speaker-name': { type: 'string' },
      'no-reuse': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${SAY_USAGE}\n`);
    return;
  }
  const given = (name: keyof typeof values): boolean => values[name] !== undefined && values[name] !== false;
  const server = values.server;
  const misplaced = server === undefined ? SERVER_ONLY.find(given) : LOCAL_ONLY.find(given);
  if (misplaced !== undefined) {
    throw new TtsError(
      'E_INVALID_ARGUMENT',
      server === undefined ? `--${misplaced} works with --server only.` : `--${misplaced} is a setting of local runs; with --server the service's own setting applies: leave it out.`,
    );
  }
  const request = await sayRequest(
    { ...values, voice: values.script === undefined ? singleVoice(values.voice) : undefined },
    positionals,
    values.script === undefined ? undefined : { path: values.script, voices: values.voice ?? [] },
  );
  if (server !== undefined) {
    const reuse = !values['no-reuse'];
    await runRemoteSay(
      request,
      { server, key: values.key ?? process.env.TTS_QUEUE_KEY, engine: values.engine, speakerName: values['speaker-name'], reuse, json: values.json, quiet: values.quiet },
      signal,
    );
    return;
  }
  await runLocalSay(request, { ...values, engine: values.engine ?? 'espeak' }, signal);
}

function singleVoice(voices: string[] | undefined): string | undefined {
  if (voices === undefined || voices.length === 0) return undefined;
  if (voices.length > 1) throw new TtsError('E_INVALID_ARGUMENT', 'Give one --voice FILE (several voices go with --script FILE and --voice NAME=FILE).');
  return voices[0];
}

/** The request both modes make from the options: checked here as far as can be without the service. */
async function sayRequest(
  values: { format?: string; out?: string; subtitles?: string; seed?: string; pronounce?: string; voice?: string; file?: string; 'prompt-text'?: string },
  positionals: string[],
  script?: { path: string; voices: string[] },
): Promise<SayRequest> {
  const format = parseOutputFormat(values.format ?? (values.out && formatFromPath(values.out)) ?? 'wav');
  const outPath = resolve(values.out ?? `speech.${OUTPUT_FORMATS[format].extension}`);
  const seed = integerOption('seed', values.seed, 0, 0);
  let pronunciations: unknown;
  if (values.pronounce !== undefined) {
    try {
      pronunciations = JSON.parse(values.pronounce);
    } catch {
      throw new TtsError('E_PRONUNCIATION_INVALID', `--pronounce must be JSON, e.g. '[{"text":"重","pinyin":"chong2"}]'.`);
    }
  }
  if (values.voice !== undefined) {
    await access(values.voice).catch((error: NodeJS.ErrnoException) => {
      throw new TtsError('E_FILE_NOT_FOUND', `Cannot read the voice file "${values.voice}" (${error.code ?? 'error'}).`);
    });
  }
  // The fields of POST /api/synthesis: checked below exactly as the API checks them.
  const fields: Record<string, unknown> = { format, seed };
  let scriptParts: ScriptPart[] | undefined;
  if (script === undefined) {
    fields.text = await readTextArgument(positionals, values.file);
  } else {
    if (positionals.length > 0 || values.file !== undefined) throw new TtsError('E_INVALID_ARGUMENT', 'Give the text either with --script or as text/--file, not both.');
    scriptParts = parseScript(await readTextFile(script.path), speakerVoices(script.voices));
  }
  if (values['prompt-text'] !== undefined) fields.prompt_text = values['prompt-text'];
  if (pronunciations !== undefined) fields.pronunciations = pronunciations;
  await access(dirname(outPath), constants.W_OK).catch((error: NodeJS.ErrnoException) => {
    throw new TtsError('E_FILE_NOT_FOUND', `Cannot write into the folder of --out "${values.out ?? outPath}" (${error.code ?? 'error'}).`);
  });
  let subtitles: SayRequest['subtitles'];
  if (values.subtitles !== undefined) {
    const path = resolve(values.subtitles);
    if (path === outPath) throw new TtsError('E_INVALID_ARGUMENT', '--subtitles and --out name the same file; give the subtitles a file of their own (e.g. speech.vtt).');
    await access(dirname(path), constants.W_OK).catch((error: NodeJS.ErrnoException) => {
      throw new TtsError('E_FILE_NOT_FOUND', `Cannot write into the folder of --subtitles "${values.subtitles}" (${error.code ?? 'error'}).`);
    });
    subtitles = { path, format: path.toLowerCase().endsWith('.srt') ? 'srt' : 'vtt' };
  }
  return { fields, voicePath: values.voice, outPath, subtitles, scriptParts };
}

/** `say` without --server: the service's pipeline on this machine. */
async function runLocalSay(
  request: SayRequest,
  values: { engine: string; engines?: string; 'pause-ms'?: string; 'max-chars'?: string; quiet: boolean; json: boolean },
  signal: AbortSignal,
): Promise<void> {
  const { fields, outPath } = request;
  const spec = hostSpec(values.engine);
  const pauseMs = integerOption('pause-ms', values['pause-ms'], 0, 200);
  const maxTextChars = integerOption('max-chars', values['max-chars'], 1, DEFAULT_MAX_TEXT_CHARS);

  // The service's pipeline on this machine: the request is checked as the API checks it, and
  // the worker prepares, synthesises and assembles it over an in-memory backend.
  const local = await LocalSynthesis.create({
    pauseMs,
    maxTextChars,
    logger: pino({ level: values.quiet ? 'silent' : 'error' }, pino.destination(2)),
    // For `npm run bench -- say` only: the same run timed with encoding after the last segment.
    earlyAssembly: process.env.TTS_QUEUE_BENCH_EARLY_ASSEMBLY !== 'off',
  });
  const bar = createProgressBar(process.stderr, !values.quiet);
  let engines: EngineSet | undefined;
  const started = performance.now();
  try {
    // Bad text and bad fields are refused here, before any engine starts (a script's voices are
    // stored once the engines run: storing one asks them for its rate, so its parts are checked then).
    const script = request.scriptParts;
    let task = script === undefined ? await local.submit(fields, request.voicePath) : undefined;
    const chars = task === undefined ? script!.reduce((sum, part) => sum + charCount(part.text), 0) : charCount(task.request.text);
    const hosts = integerOption('engines', values.engines, 1, defaultEngineHosts(chars));
    // A one-shot run fails rather than wait on hosts that keep dying (a service's pools never give up).
    const pool = new EnginePool({
      spec,
      size: hosts,
      giveUpAfterDeaths: 5,
      onEvent: (event) => {
        if (event.type === 'host:lost' && !values.quiet) process.stderr.write(`\nengine host ${event.pid ?? ''} was lost; restarting it\n`);
      },
    });
    engines = new EngineSet([{ name: values.engine, pool }]);
    await untilAborted(engines.start(), signal);
    local.start(engines);
    if (script !== undefined) {
      // A script's speakers become voices of this run, each recording once.
      const ids = new Map<string, string>();
      for (const path of new Set(script.flatMap((p) => (p.voicePath === undefined ? [] : [p.voicePath])))) ids.set(path, await local.addVoice(`script voice ${ids.size + 1}`, path));
      fields.parts = script.map(({ voicePath, ...part }) => (voicePath === undefined ? part : { ...part, voice_id: ids.get(voicePath) }));
      task = await local.submit(fields);
    }
    const done = await local.waitFor(task!.id, { signal, onProgress: (segmentsDone, total) => bar.update(segmentsDone, total) });
    if (request.subtitles !== undefined) await local.saveSubtitles(done, request.subtitles.path, request.subtitles.format);
    const result = await local.saveResult(done, outPath);
    bar.finish();
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    if (!values.quiet) {
      const seconds = (performance.now() - started) / 1000;
      process.stderr.write(
        `${result.outPath}: ${result.format}, ${(result.durationMs / 1000).toFixed(1)} s of audio, ${result.segments} segments, ${result.bytes} bytes, ` +
          `${seconds.toFixed(1)} s with ${hosts} engine host${hosts === 1 ? '' : 's'}${result.retries ? `, ${result.retries} segment retries` : ''}\n`,
      );
    }
  } finally {
    bar.finish();
    // Unfinished work is canceled and the worker stopped before the engines close.
    await local.close();
    await engines?.close();
  }
}

/** Engines take seconds to start (GLM-TTS minutes): an interrupt does not wait for them. */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined); // still settles after an interrupt; the caller closes what it started
  if (signal.aborted) throw new TtsError('E_CANCELED', 'Interrupted; nothing was written.');
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new TtsError('E_CANCELED', 'Interrupted; nothing was written.'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
