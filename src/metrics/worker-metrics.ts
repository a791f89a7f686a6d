/** What the worker reports as it works: the hooks it calls, so it needs no metrics library. */

import type { TaskRecord, WorkKind } from '../backends/backend.js';

export interface WorkerMetrics {
  /** A unit failed and its failure was recorded; `outcome` is what `failWork` made of it. */
  workFailed(kind: WorkKind, code: string, outcome: 'retrying' | 'failed' | 'ignored'): void;
  /** This worker ended the task: it assembled the result, or recorded the failure that failed it. (An assembly whose lease had been lost, which the backend ignores, is counted too: rare, and then the task is counted twice.) */
  taskFinished(task: TaskRecord, status: 'completed' | 'failed'): void;
  /** This worker completed the task with a copy of an identical request's result, without the engine. */
  resultReused(task: TaskRecord, engine: string): void;
  /** A lease renewal was refused while the work was still running here: the lease expired and the work went back to the queue, or the task ended before this worker heard of it. */
  leaseLost(kind: WorkKind): void;
}
