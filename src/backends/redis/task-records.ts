/** A task's Redis hash (scripts.ts names its fields) as the backend's TaskRecord. */

import type { PreparedReference, TaskRecord, TaskRequest, TaskResult, TaskStatus } from '../backend.js';

type HashReply = Record<string, string> | string[];

/** HGETALL's reply as an object: ioredis gives one, a script gives a flat field, value list. */
function fieldsOf(reply: HashReply): Record<string, string> {
  return Array.isArray(reply) ? Object.fromEntries(Array.from({ length: reply.length / 2 }, (_, i) => [reply[2 * i], reply[2 * i + 1]])) : reply;
}

/** The task's epoch: bumped each time it is routed again; its jobs carry it. */
export function epochOf(reply: HashReply): number {
  return Number(fieldsOf(reply).epoch);
}

/** The task's fair rank (backend.ts): 0 for a task stored before ranks existed. */
export function rankOf(reply: HashReply): number {
  return Number(fieldsOf(reply).rank ?? 0);
}

export function toTask(reply: HashReply): TaskRecord {
  const f = fieldsOf(reply);
  const task: TaskRecord = {
    id: f.id!,
    status: f.status as TaskStatus,
    request: JSON.parse(f.request!) as TaskRequest,
    segmentsTotal: Number(f.total),
    segmentsDone: Number(f.done),
    attempts: Number(f.retries) + 1,
    expired: f.expired === '1',
    createdAt: Number(f.createdAt),
    updatedAt: Number(f.updatedAt),
  };
  if (f.error !== undefined) task.error = JSON.parse(f.error) as { code: string; message: string };
  if (f.result !== undefined) task.result = JSON.parse(f.result) as TaskResult;
  if (f.reference !== undefined) task.reference = JSON.parse(f.reference) as PreparedReference;
  if (f.references !== undefined) task.references = JSON.parse(f.references) as Record<string, PreparedReference>;
  if (f.segparts !== undefined) task.segmentParts = JSON.parse(f.segparts) as number[];
  if (f.engine !== undefined) task.engine = f.engine;
  if (f.owner !== undefined && f.owner !== '') task.owner = f.owner;
  if (f.startedAt !== undefined) task.startedAt = Number(f.startedAt);
  if (f.finishedAt !== undefined) task.finishedAt = Number(f.finishedAt);
  if (f.expiresAt !== undefined) task.expiresAt = Number(f.expiresAt);
  if (f.cached === '1') task.cached = true;
  return task;
}
