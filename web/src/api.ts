/**
 * Calls to the service's API from the page: the key (if any) as `Authorization: Bearer`, and
 * every refusal turned into an ApiError with the API's code and message.
 */

import { storedKey } from './store.js';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }

  /** As the page shows it: the code first, so that it can be looked up in docs/errors.md. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** A failure of any kind as an ApiError: a network failure has a code of the page's own. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof DOMException && error.name === 'AbortError') return new ApiError('ABORTED', 'The request was stopped.', 0);
  return new ApiError('NETWORK', `The service could not be reached (${error instanceof Error ? error.message : String(error)}).`, 0);
}

export function authHeaders(): Record<string, string> {
  const key = storedKey();
  return key === '' ? {} : { authorization: `Bearer ${key}` };
}

/** Sends a request; answers the response when it is 2xx, else throws the API's error. */
export async function send(path: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init.headers as Record<string, string> | undefined) } });
  } catch (error) {
    throw asApiError(error);
  }
  if (response.ok) return response;
  let code = `HTTP_${response.status}`;
  let message = response.statusText || 'The request failed.';
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // Not the API's error shape (a proxy's page): the status says what there is.
  }
  throw new ApiError(code, message, response.status);
}

export async function getJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  return (await (await send(path, init)).json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return getJson<T>(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

// The shapes the page reads (src/http/schemas.ts is the reference).
export type TaskStatus = 'queued' | 'preparing' | 'synthesizing' | 'encoding' | 'completed' | 'failed' | 'canceled';
export const FINAL_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'canceled'];

export interface TaskLinks {
  self: string;
  audio: string;
  events: string;
  /** Audio as segments finish, where the service streams (GET /api/task/:id/stream). */
  stream?: string;
}

export interface Task {
  id: string;
  status: TaskStatus;
  format: string;
  priority: number;
  engine: string | null;
  progress: { segments_done: number; segments_total: number };
  created_at: string;
  error: { code: string; message: string } | null;
  result: { url: string; format: string; duration_ms: number; bytes: number; sample_rate: number; expired: boolean } | null;
  links: TaskLinks;
}

export interface Accepted {
  id: string;
  status: TaskStatus;
  links: TaskLinks;
}

export interface TaskEvent {
  event_id: number;
  task_id: string;
  type: 'status' | 'progress';
  status: TaskStatus;
  segments_done: number;
  segments_total: number;
  error: { code: string; message: string } | null;
}

export interface Voice {
  id: string;
  name: string;
  prompt_text: string;
  duration_ms: number;
  sample_rate: number;
  speaker_name: string | null;
  created_at: string;
}

export interface Engine {
  engine: string;
  sample_rates: number[];
  cloning: boolean;
  requires_voice: boolean;
  hosts_up: number;
}
