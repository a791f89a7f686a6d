/**
 * Reads a document into parts off the event loop: each extraction runs in its own worker thread
 * with a memory cap (resourceLimits) and a deadline after which the thread is ended, so a
 * hostile document can neither stall nor exhaust the API process. At most MAX_EXTRACTIONS run
 * at once; the others wait their turn (their deadline starts when they run).
 */

import { readFile, stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { DocumentKind } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import type { DocumentAnswer, DocumentJob } from './document-worker.js';
import { documentTooLarge } from './extract-core.js';
import { sniffDocumentKind } from './sniff.js';
import type { DocumentLimits, ExtractedDocument } from './types.js';

export type { DocumentLimits, ExtractedDocument } from './types.js';

const MAX_EXTRACTIONS = 2;
/** Heap of one extraction's thread (MiB): a parser that needs more is ended. */
const WORKER_HEAP_MB = 512;

let running = 0;
const waiting: Array<() => void> = [];

async function turn(): Promise<() => void> {
  if (running >= MAX_EXTRACTIONS) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  return () => {
    running--;
    waiting.shift()?.();
  };
}

function runWorker(job: DocumentJob, timeoutMs: number): Promise<ExtractedDocument> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./document-worker.js', import.meta.url), {
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
      void worker.terminate();
    };
    const timer = setTimeout(
      () => settle(() => reject(new TtsError('E_DOCUMENT_TIMEOUT', `The ${job.kind} document was not read within ${timeoutMs} ms (DOCUMENT_TIMEOUT_MS); send a simpler or smaller document.`))),
      timeoutMs,
    );
    worker.on('message', (answer: DocumentAnswer) => settle(() => (answer.ok ? resolve(answer.document) : reject(TtsError.fromWire(answer.error)))));
    worker.on('error', (error: Error & { code?: string }) =>
      settle(() =>
        reject(
          error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new TtsError('E_DOCUMENT_TOO_LARGE', `The ${job.kind} document needs more than ${WORKER_HEAP_MB} MiB to read; send a smaller document.`)
            : new TtsError('E_DOCUMENT_UNREADABLE', `The ${job.kind} document cannot be read (${error.message.slice(0, 200)}).`, { cause: error }),
        ),
      ),
    );
    worker.on('exit', (code) => settle(() => reject(new TtsError('E_DOCUMENT_UNREADABLE', `The ${job.kind} document's reader stopped (exit ${code}) before it answered.`))));
  });
}

/**
 * The text of a document, as parts with chapters and pauses. `input` is its bytes or a file's
 * path; `kind` as given, else found from `hints` and the bytes (sniff.ts). Refuses with
 * E_DOCUMENT_* codes (catalogue in errors.ts), E_TEXT_EMPTY where nothing is read.
 */
export async function extractDocument(
  input: Uint8Array | string,
  kind: DocumentKind | undefined,
  limits: DocumentLimits,
  hints: { name?: string; mediaType?: string } = {},
): Promise<{ kind: DocumentKind; document: ExtractedDocument }> {
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    const { size } = await stat(input);
    if (size > limits.maxBytes) throw documentTooLarge(size, limits.maxBytes);
    bytes = await readFile(input);
  } else {
    bytes = input;
  }
  if (bytes.byteLength > limits.maxBytes) throw documentTooLarge(bytes.byteLength, limits.maxBytes);
  const found = sniffDocumentKind(bytes, { ...hints, kind });
  const release = await turn();
  try {
    return { kind: found, document: await runWorker({ bytes, kind: found, limits }, limits.timeoutMs) };
  } finally {
    release();
  }
}
