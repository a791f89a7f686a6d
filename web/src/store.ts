/** What the page keeps in the browser's local storage: the API key and the ids of the tasks it sent. */

const KEY = 'tts-queue.api-key';
const TASKS = 'tts-queue.tasks';
/** The list shows the newest tasks; older ids are dropped from it (the tasks stay on the service). */
const MAX_TASKS = 200;

export function storedKey(): string {
  return localStorage.getItem(KEY) ?? '';
}

export function storeKey(key: string): void {
  if (key === '') localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, key);
}

export function storedTaskIds(): string[] {
  try {
    const ids: unknown = JSON.parse(localStorage.getItem(TASKS) ?? '[]');
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

/** Newest first. */
export function addTaskId(id: string): void {
  localStorage.setItem(TASKS, JSON.stringify([id, ...storedTaskIds().filter((other) => other !== id)].slice(0, MAX_TASKS)));
}

export function removeTaskId(id: string): void {
  localStorage.setItem(TASKS, JSON.stringify(storedTaskIds().filter((other) => other !== id)));
}
