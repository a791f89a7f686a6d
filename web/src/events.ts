/**
 * Follows a task's Server-Sent Events (GET /api/task/:id/events) with fetch rather than
 * EventSource, which cannot send the API key. A dropped connection is resumed after the last
 * event seen (Last-Event-ID); the stream ends at the task's final state.
 */

import { ApiError, FINAL_STATUSES, getJson, send, type Task, type TaskEvent } from './api.js';

const RETRY_DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000];

export interface Follower {
  onEvent(event: TaskEvent): void;
  /** A fresh snapshot, read when a stream ended before the final state. */
  onTask(task: Task): void;
  /** The API refused (the task is gone, the key changed) or the service stayed unreachable. */
  onError(error: ApiError): void;
}

export async function followTask(id: string, follower: Follower, signal: AbortSignal): Promise<void> {
  let lastEventId = 0;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const response = await send(`/api/task/${encodeURIComponent(id)}/events`, {
        headers: lastEventId > 0 ? { 'last-event-id': String(lastEventId) } : {},
        signal,
      });
      for await (const event of readEvents(response, signal)) {
        failures = 0;
        lastEventId = Math.max(lastEventId, event.event_id);
        follower.onEvent(event);
        if (event.type === 'status' && FINAL_STATUSES.includes(event.status)) return;
      }
      // The stream ended without a final event (the service restarted, or the task was final before we asked): look.
      const task = await getJson<Task>(`/api/task/${encodeURIComponent(id)}`, { signal });
      follower.onTask(task);
      if (FINAL_STATUSES.includes(task.status)) return;
    } catch (error) {
      if (signal.aborted) return;
      // A 4xx will not change by asking again; a network failure or a 5xx may.
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
        follower.onError(error);
        return;
      }
      if (failures >= RETRY_DELAYS_MS.length) {
        follower.onError(error instanceof ApiError ? error : new ApiError('NETWORK', 'Lost the connection to the service.', 0));
        return;
      }
    }
    await sleep(RETRY_DELAYS_MS[Math.min(failures++, RETRY_DELAYS_MS.length - 1)]!, signal);
  }
}

/** The `data` of each event of a text/event-stream body, parsed as JSON. */
async function* readEvents(response: Response, signal: AbortSignal): AsyncGenerator<TaskEvent> {
  if (response.body === null) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const stop = (): void => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', stop, { once: true });
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (data !== '') yield JSON.parse(data) as TaskEvent;
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
