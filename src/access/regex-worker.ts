/**
 * Entry point of the worker thread that runs a blocklist's regular-expression rules (see
 * regex-rules.ts): it compiles the rules once, then answers each `{id, text}` with the index of
 * the first rule that matches, or -1. Before each rule it writes that rule's index into the
 * shared progress cell, so the thread that kills it on a deadline knows which rule overran.
 */

import { parentPort, workerData } from 'node:worker_threads';

export interface RegexWorkerData {
  rules: Array<{ source: string; flags: string }>;
  /** One Int32 cell: the index of the rule being run. */
  progress: SharedArrayBuffer;
}

export interface RegexJob {
  id: number;
  text: string;
}

export interface RegexAnswer {
  id: number;
  /** Index of the first rule that matched, -1 for none. */
  match: number;
}

const data = workerData as RegexWorkerData;
const rules = data.rules.map((rule) => new RegExp(rule.source, rule.flags));
const progress = new Int32Array(data.progress);
const port = parentPort!;

port.on('message', ({ id, text }: RegexJob) => {
  let match = -1;
  for (let i = 0; i < rules.length && match === -1; i++) {
    Atomics.store(progress, 0, i);
    if (rules[i]!.test(text)) match = i;
  }
  port.postMessage({ id, match } satisfies RegexAnswer);
});
