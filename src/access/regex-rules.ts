/**
 * A blocklist's regular-expression rules, run with a bounded cost.
 *
 * Why a worker thread with a deadline rather than only a check of the patterns: a static check
 * catches the exponential shapes (nested quantifiers such as `(a+)+`, which are refused at load
 * by `nestedQuantifier`), but not the polynomial ones, and those are as bad on a 100,000-character
 * text: `/.*foo/` alone takes about 9 s on one line of 100,000 characters without `foo` (each
 * start position scans to the end of the line). V8 has no time limit for a regular expression,
 * and the JavaScript thread that runs one cannot be interrupted from inside; another thread can
 * end it. So the rules run in one worker thread, one text at a time; a text whose rules take
 * longer than the deadline has the worker terminated (and a fresh one started for the next
 * text), and the check counts as one that could not finish (MODERATION_FAIL decides).
 */

import { Worker } from 'node:worker_threads';
import type { RegexAnswer, RegexJob, RegexWorkerData } from './regex-worker.js';

export interface RegexRule {
  source: string;
  flags: string;
  /** Line of the blocklist file it came from (for the operator: logs at debug, the deadline warning). */
  line: number;
}

/** The rule at `ruleIndex` did not finish within the deadline. */
export class RegexDeadlineError extends Error {
  constructor(
    readonly rule: RegexRule,
    deadlineMs: number,
  ) {
    super(`blocklist rule on line ${rule.line} ran longer than ${deadlineMs} ms`);
    this.name = 'RegexDeadlineError';
  }
}

interface Pending {
  job: RegexJob;
  resolve: (rule: RegexRule | undefined) => void;
  reject: (error: Error) => void;
}

export class RegexRules {
  private worker: Worker | undefined;
  private readonly progress = new SharedArrayBuffer(4);
  private readonly queue: Pending[] = [];
  private running: (Pending & { timer: NodeJS.Timeout }) | undefined;
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly rules: readonly RegexRule[],
    private readonly deadlineMs: number,
  ) {
    this.worker = this.start();
  }

  /** The first rule (in file order) that matches `text`, or undefined; rejects with RegexDeadlineError past the deadline. */
  firstMatch(text: string): Promise<RegexRule | undefined> {
    if (this.closed) return Promise.reject(new Error('the blocklist is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, text }, resolve, reject });
      this.runNext();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.fail(new Error('the blocklist is closed'));
    await worker?.terminate();
  }

  private start(): Worker {
    const workerData: RegexWorkerData = { rules: this.rules.map(({ source, flags }) => ({ source, flags })), progress: this.progress };
    const worker = new Worker(new URL('./regex-worker.js', import.meta.url), { workerData });
    // An idle worker does not keep the process alive; a check in flight does, through its deadline timer.
    worker.unref();
    worker.on('message', (answer: RegexAnswer) => {
      const running = this.running;
      if (running === undefined || running.job.id !== answer.id) return;
      clearTimeout(running.timer);
      this.running = undefined;
      running.resolve(answer.match === -1 ? undefined : this.rules[answer.match]);
      this.runNext();
    });
    worker.on('error', (error) => this.replaceWorker(worker, error));
    worker.on('exit', () => this.replaceWorker(worker, new Error('the blocklist worker exited')));
    return worker;
  }

  private runNext(): void {
    if (this.running !== undefined || this.worker === undefined) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    const timer = setTimeout(() => {
      const rule = this.rules[Atomics.load(new Int32Array(this.progress), 0)]!;
      this.replaceWorker(this.worker, new RegexDeadlineError(rule, this.deadlineMs));
    }, this.deadlineMs);
    this.running = { ...next, timer };
    this.worker.postMessage(next.job);
  }

  /** Fails the text in flight with `error`, ends `worker` and starts another for the texts waiting. */
  private replaceWorker(worker: Worker | undefined, error: Error): void {
    if (worker === undefined || worker !== this.worker) return;
    this.worker = undefined;
    void worker.terminate();
    const running = this.running;
    this.running = undefined;
    if (running !== undefined) {
      clearTimeout(running.timer);
      running.reject(error);
    }
    if (this.closed) return;
    this.worker = this.start();
    this.runNext();
  }

  private fail(error: Error): void {
    const running = this.running;
    this.running = undefined;
    if (running !== undefined) {
      clearTimeout(running.timer);
      running.reject(error);
    }
    for (const pending of this.queue.splice(0)) pending.reject(error);
  }
}

/**
 * True when a quantified group itself holds an unbounded or repeated quantifier: `(a+)+`,
 * `(\w*\s)*`, `(?:x{2,5})+`, the shapes whose backtracking grows exponentially. Classes
 * (`[...]`, nested ones with the `v` flag) and escapes are skipped; `?` alone is not a repeat.
 */
export function nestedQuantifier(pattern: string, flags: string): boolean {
  const groups: boolean[] = [];
  let closedGroupRepeats = false;
  let afterGroup = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      afterGroup = false;
    } else if (c === '[') {
      i = endOfClass(pattern, i, flags.includes('v'));
      afterGroup = false;
    } else if (c === '(') {
      groups.push(false);
      afterGroup = false;
    } else if (c === ')') {
      closedGroupRepeats = groups.pop() ?? false;
      if (closedGroupRepeats && groups.length > 0) groups[groups.length - 1] = true;
      afterGroup = true;
    } else {
      const length = repeatLength(pattern, i);
      if (length > 0) {
        if (afterGroup && closedGroupRepeats) return true;
        if (groups.length > 0) groups[groups.length - 1] = true;
        i += length - 1;
      }
      afterGroup = false;
    }
  }
  return false;
}

/** The index of the `]` that closes the class opened at `start`. */
function endOfClass(pattern: string, start: number, nested: boolean): number {
  let depth = 0;
  for (let i = start; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (c === '[' && (nested || depth === 0)) depth++;
    else if (c === ']' && --depth === 0) return i;
  }
  return pattern.length;
}

/** The length of a quantifier that repeats (`*`, `+`, `{n,}`, `{n,m}` with m > 1) at `i`, or 0. */
function repeatLength(pattern: string, i: number): number {
  const c = pattern[i];
  if (c === '*' || c === '+') return 1;
  if (c !== '{') return 0;
  const brace = /^\{(\d+)(,(\d*))?\}/u.exec(pattern.slice(i, i + 24));
  if (brace === null) return 0;
  const max = brace[2] === undefined ? Number(brace[1]) : brace[3] === '' ? Number.POSITIVE_INFINITY : Number(brace[3]);
  return max > 1 ? brace[0].length : 0;
}
