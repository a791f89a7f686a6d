/** Entry point of the worker thread that reads one document (extract.ts starts it and ends it on its deadline). */

import { parentPort, workerData } from 'node:worker_threads';
import type { DocumentKind } from '../backends/backend.js';
import { TtsError } from '../errors.js';
import { extractInThread } from './extract-core.js';
import type { DocumentLimits, ExtractedDocument } from './types.js';

export interface DocumentJob {
  bytes: Uint8Array;
  kind: DocumentKind;
  limits: DocumentLimits;
}

export type DocumentAnswer = { ok: true; document: ExtractedDocument } | { ok: false; error: { code: string; message: string; retryable?: boolean } };

const job = workerData as DocumentJob;
const port = parentPort!;

try {
  port.postMessage({ ok: true, document: await extractInThread(job.bytes, job.kind, job.limits) } satisfies DocumentAnswer);
} catch (error) {
  // A parser's own exception on a malformed file is the file's fault, not the service's.
  const wire =
    error instanceof TtsError
      ? error.toWire()
      : { code: 'E_DOCUMENT_UNREADABLE', message: `The ${job.kind} document cannot be read (${String((error as Error)?.message ?? error).slice(0, 200)}).`, retryable: false };
  port.postMessage({ ok: false, error: wire } satisfies DocumentAnswer);
}
