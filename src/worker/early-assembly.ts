/**
 * Assembly begun before a task's last segment: finished segments are appended to the output's
 * sink in order as they come, so encoding (slow for mp3) overlaps synthesis instead of following
 * it; the assemble stage then appends what is left and finishes. Only where every segment of a
 * task runs in this process and its file stays where it was written (WorkerOptions.earlyAssembly).
 *
 * The output must be exactly what assembling from the start writes: the same sink, options and
 * calls (output.ts appendSegment, finishSegments). A segment appended early cannot be taken
 * back, so one whose file is not the one assembly loads (another path, or written again since:
 * a claim that lost its lease) spoils the whole output: it is removed and assembly starts over.
 */

import { stat } from 'node:fs/promises';
import { AudioSink, appendSegment, finishSegments, type OutputFormat, type WriteSegmentsOptions, type WrittenSegments } from '../audio/output.js';

/** One version of a file: writing it again, or replacing it, changes one of these. */
interface FileVersion {
  path: string;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

async function fileVersion(path: string): Promise<FileVersion> {
  const { ino, size, mtimeNs, ctimeNs } = await stat(path, { bigint: true });
  return { path, ino, size, mtimeNs, ctimeNs };
}

function sameVersion(a: FileVersion, b: FileVersion | undefined): boolean {
  return b !== undefined && a.path === b.path && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** The output, with how many segments were appended as they were offered (the rest by `complete`); or why none is usable (everything written is removed). */
export type EarlyOutcome = { written: WrittenSegments; appendedEarly: number } | { discarded: string };

export class EarlyAssembly {
  private readonly sink: AudioSink;
  /** Finished segments not appended yet, by index. */
  private readonly waiting = new Map<number, string>();
  /** The index to append next. */
  private next = 0;
  /** The segments appended, in order, as they were before being read. */
  private readonly appended: FileVersion[] = [];
  /** Appends run one after another; this settles (never rejects) once the last queued one has. */
  private appending: Promise<void> = Promise.resolve();
  /** Why the output cannot be used, once known: nothing more is appended. */
  private spoiled: string | undefined;
  /** Completing or aborted: no more segments are offered. */
  private closed = false;
  /** Aborted: nothing more is appended. */
  private stopped = false;
  private finished = false;

  /** `scratchPath`: where the output is written until it is finished, on the file system of `resultPath`. */
  constructor(
    format: OutputFormat,
    resultPath: string,
    scratchPath: string,
    private readonly options: WriteSegmentsOptions,
  ) {
    this.sink = new AudioSink(format, resultPath, options, scratchPath);
  }

  /** Segment `index` is finished at `path`: appended once every one before it is. */
  offer(index: number, path: string): void {
    if (this.closed || this.spoiled !== undefined) return;
    if (index < this.next || this.waiting.has(index)) {
      this.spoiled = `segment ${index} was finished again`;
      return;
    }
    this.waiting.set(index, path);
    this.appending = this.appending.then(() => this.appendWaiting());
  }

  private async appendWaiting(): Promise<void> {
    for (let path = this.waiting.get(this.next); path !== undefined && !this.stopped && this.spoiled === undefined; path = this.waiting.get(this.next)) {
      const index = this.next++;
      this.waiting.delete(index);
      try {
        // Taken before reading: a change while or after it is read shows when it is checked.
        const version = await fileVersion(path);
        await appendSegment(this.sink, path, index, this.options);
        this.appended.push(version);
      } catch (error) {
        this.spoiled = `appending segment ${index} failed: ${(error as Error).message}`;
      }
    }
  }

  /**
   * Appends the segments not appended yet from `paths` (the task's files, as assembly loads
   * them), checks that those appended before are these very files, unchanged, and finishes
   * with `options` (which must be those it began with). Throws only when `signal` aborts.
   */
  async complete(paths: readonly string[], options: WriteSegmentsOptions, signal: AbortSignal): Promise<EarlyOutcome> {
    this.closed = true;
    await this.appending; // what was offered is appended as it would have been
    const appendedEarly = this.appended.length;
    try {
      let spoiled = this.spoiled;
      if (JSON.stringify(options) !== JSON.stringify(this.options)) spoiled ??= "the task's layout is not the one it began with";
      if (appendedEarly > paths.length) spoiled ??= `${appendedEarly} segments were appended, the task has ${paths.length}`;
      if (spoiled !== undefined) {
        await this.abort();
        return { discarded: spoiled };
      }
      for (let index = appendedEarly; index < paths.length; index++) {
        signal.throwIfAborted();
        await appendSegment(this.sink, paths[index]!, index, options);
      }
      // Checked once everything is read, so that nothing read can have changed unseen.
      for (const [index, version] of this.appended.entries()) {
        if (!sameVersion(version, await fileVersion(paths[index]!).catch(() => undefined))) {
          await this.abort();
          return { discarded: `segment ${index} is not the file that was appended` };
        }
      }
      signal.throwIfAborted();
      const written = await finishSegments(this.sink, options);
      this.finished = true;
      return { written, appendedEarly };
    } catch (error) {
      await this.abort();
      if (signal.aborted) throw error;
      return { discarded: (error as Error).message };
    }
  }

  /** Stops the encoder and removes what was written (not a finished output). Safe to call again. */
  async abort(): Promise<void> {
    this.closed = true;
    this.stopped = true;
    if (this.finished) return;
    await this.sink.abort(); // at once: an append waiting for the encoder returns
    await this.appending;
    await this.sink.abort(); // an encoder started by an append that was opening it meanwhile
  }
}
