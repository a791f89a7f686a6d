/**
 * The backend's own events, for tests of scheduling order: exact whatever polling or a loaded
 * machine costs, where counting by polling the API is not.
 */

import type { TaskBackend, TaskEvent } from '../../backends/backend.js';

export interface EventLog {
  events: TaskEvent[];
  stop(): void;
}

export function recordEvents(backend: Pick<TaskBackend, 'subscribe'>): EventLog {
  const events: TaskEvent[] = [];
  const stop = backend.subscribe((event) => events.push(event));
  return { events, stop };
}

/**
 * How many segments of other tasks (`isOther`) finished while `taskId`'s segments waited for the
 * engine and ran: from the event that queued them (status `synthesizing`) to its last finished
 * segment. Preparing and encoding run beside the engine and are not counted: on a loaded machine
 * the engine finishes any number of short segments meanwhile.
 */
export function segmentsWhileWaiting(log: EventLog, taskId: string, isOther: (taskId: string) => boolean): number {
  const events = [...log.events].sort((a, b) => a.id - b.id);
  const queued = events.findIndex((e) => e.taskId === taskId && e.type === 'status' && e.status === 'synthesizing');
  const lastDone = events.findLastIndex((e) => e.taskId === taskId && e.type === 'progress');
  if (queued < 0 || lastDone < queued) throw new Error(`task ${taskId} has no queued segments that finished among the events recorded`);
  return events.slice(queued, lastDone).filter((e) => e.type === 'progress' && isOther(e.taskId)).length;
}
