/**
 * `say --script FILE`: a script of several voices, read into the `parts` of POST /api/synthesis.
 * Two forms, told apart by the first line that is not blank:
 * - JSON Lines (it starts with `{`): one part a line, {"text", "voice"?, "pause_ms"?, "chapter"?}
 *   where `voice` is a speaker NAME given with `--voice NAME=FILE`, or a recording's file name;
 * - a screenplay: `NAME: line` reads the line in NAME's voice (`--voice NAME=FILE`; NAME one word,
 *   or any name given a voice), other lines in the default voice, `# Title` starts a chapter at the next line; blank lines are skipped.
 * Voices are recordings on this machine: the caller stores each once and puts its id in the parts.
 */

import { TtsError } from '../errors.js';

/** A part of a script, its voice still a recording's path (absent: the default voice). */
export interface ScriptPart {
  text: string;
  voicePath?: string;
  pause_ms?: number;
  chapter?: string;
}

/** `--voice NAME=FILE` options, by NAME. */
export function speakerVoices(options: readonly string[]): Map<string, string> {
  const voices = new Map<string, string>();
  for (const option of options) {
    const at = option.indexOf('=');
    if (at <= 0 || at === option.length - 1) throw new TtsError('E_INVALID_ARGUMENT', `With --script, give each speaker's voice as --voice NAME=FILE, got "${option}".`);
    voices.set(option.slice(0, at).trim(), option.slice(at + 1));
  }
  return voices;
}

const SPEAKER_LINE = /^([^:：#\s][^:：]{0,63})[:：]\s*(.*)$/u;

export function parseScript(text: string, voices: ReadonlyMap<string, string>): ScriptPart[] {
  const lines = text.split(/\r?\n/u);
  const first = lines.find((line) => line.trim() !== '');
  if (first === undefined) throw new TtsError('E_TEXT_EMPTY', 'The script is empty.');
  const parts = first.trim().startsWith('{') ? jsonLines(lines, voices) : screenplay(lines, voices);
  if (parts.length === 0) throw new TtsError('E_TEXT_EMPTY', 'The script has no lines to read.');
  return parts;
}

function voiceOf(name: string, voices: ReadonlyMap<string, string>, where: string): string {
  const path = voices.get(name);
  if (path === undefined) throw new TtsError('E_INVALID_ARGUMENT', `${where}: the speaker "${name}" has no voice; give it with --voice ${name}=FILE.`);
  return path;
}

function jsonLines(lines: readonly string[], voices: ReadonlyMap<string, string>): ScriptPart[] {
  const parts: ScriptPart[] = [];
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const where = `Line ${index + 1} of the script`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new TtsError('E_INVALID_ARGUMENT', `${where} is not JSON: each line is one part, {"text": ..., "voice": ..., "pause_ms": ..., "chapter": ...}.`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TtsError('E_INVALID_ARGUMENT', `${where} is not a JSON object.`);
    const { text, voice, pause_ms: pauseMs, chapter, ...rest } = value as Record<string, unknown>;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw new TtsError('E_INVALID_ARGUMENT', `${where} has an unknown field "${unknown}" (text, voice, pause_ms, chapter).`);
    if (typeof text !== 'string') throw new TtsError('E_INVALID_ARGUMENT', `${where} needs a "text" string.`);
    const part: ScriptPart = { text };
    // A speaker's name, else the recording's file itself.
    if (typeof voice === 'string') part.voicePath = voices.get(voice) ?? voice;
    else if (voice !== undefined) throw new TtsError('E_INVALID_ARGUMENT', `${where}: "voice" is a speaker's name or a recording's file.`);
    if (pauseMs !== undefined) part.pause_ms = pauseMs as number; // checked as the API checks it
    if (chapter !== undefined) part.chapter = chapter as string;
    parts.push(part);
  }
  return parts;
}

function screenplay(lines: readonly string[], voices: ReadonlyMap<string, string>): ScriptPart[] {
  const parts: ScriptPart[] = [];
  let chapter: string | undefined;
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      chapter = line.replace(/^#+\s*/u, '');
      continue;
    }
    // `NAME: line` of a speaker with a voice; a one-word NAME without one is a mistake worth naming;
    // anything else with a colon ("He said: ...") is narration.
    const spoken = SPEAKER_LINE.exec(line);
    const name = spoken?.[1]?.trim();
    const speaker = spoken !== null && name !== undefined && (voices.has(name) || !/\s/u.test(name));
    const part: ScriptPart = speaker ? { text: spoken[2]!, voicePath: voiceOf(name, voices, `Line ${index + 1} of the script`) } : { text: line };
    if (chapter !== undefined) {
      part.chapter = chapter;
      chapter = undefined;
    }
    parts.push(part);
  }
  return parts;
}
