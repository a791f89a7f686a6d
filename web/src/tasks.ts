/**
 * The tasks sent from this page: one row each, kept live by its event stream, with play,
 * download, cancel and remove. Ids are kept in local storage, so the list survives a reload.
 */

import { type Accepted, ApiError, asApiError, FINAL_STATUSES, getJson, type Task, type TaskEvent } from './api.js';
import { formatSeconds, h, showError } from './dom.js';
import { followTask } from './events.js';
import { downloadTask, playTask } from './player.js';
import { addTaskId, removeTaskId, storedTaskIds } from './store.js';

const STATUS_WORDS: Record<string, string> = {
  queued: 'Queued',
  preparing: 'Preparing',
  synthesizing: 'Synthesizing',
  encoding: 'Encoding',
  completed: 'Completed',
  failed: 'Failed',
  canceled: 'Canceled',
};

function percentOf(task: Pick<Task, 'status' | 'progress'>): number {
  if (task.status === 'completed') return 100;
  const { segments_done: done, segments_total: total } = task.progress;
  return total > 0 ? Math.floor((done / total) * 100) : 0;
}

class TaskRow {
  readonly element: HTMLLIElement;
  private readonly progress: HTMLProgressElement;
  private readonly statusLine: HTMLParagraphElement;
  private readonly meta: HTMLSpanElement;
  private readonly error: HTMLParagraphElement;
  private readonly play: HTMLButtonElement;
  private readonly download: HTMLButtonElement;
  private readonly cancel: HTMLButtonElement;
  private readonly audio: HTMLAudioElement;
  private readonly following = new AbortController();
  private task: Task | undefined;
  private waiters: Array<(task: Task) => void> = [];

  constructor(
    readonly id: string,
    onRemove: (row: TaskRow) => void,
  ) {
    const label = `task ${id.slice(0, 8)}`;
    this.progress = h('progress', { max: 100, value: 0, 'aria-label': `Progress of ${label}` });
    this.statusLine = h('p', { class: 'task-status', 'aria-live': 'polite' }, 'Loading…');
    this.meta = h('span', { class: 'task-meta' });
    this.error = h('p', { class: 'error', role: 'alert' });
    this.play = h('button', { type: 'button', class: 'play', 'aria-label': `Play ${label}` }, 'Play');
    this.download = h('button', { type: 'button', class: 'download', 'aria-label': `Download ${label}`, disabled: true }, 'Download');
    this.cancel = h('button', { type: 'button', class: 'cancel', 'aria-label': `Cancel ${label}`, disabled: true }, 'Cancel');
    const remove = h('button', { type: 'button', class: 'remove', 'aria-label': `Remove ${label} from this list` }, 'Remove');
    this.audio = h('audio', { controls: true, preload: 'none', hidden: true, 'aria-label': `Audio of ${label}` });
    this.element = h(
      'li',
      { class: 'task', 'data-task-id': id, 'data-status': 'loading' },
      h('div', { class: 'task-head' }, h('code', { class: 'task-id', title: id }, id.slice(0, 8)), this.meta),
      this.progress,
      this.statusLine,
      this.error,
      h('div', { class: 'actions' }, this.play, this.download, this.cancel, remove),
      this.audio,
    );
    this.play.addEventListener('click', () => void this.startPlaying());
    this.download.addEventListener('click', () => void this.act(async () => downloadTask(this.task!)));
    this.cancel.addEventListener('click', () => void this.act(async () => this.show(await getJson<Task>(`/api/task/${encodeURIComponent(id)}`, { method: 'DELETE' }))));
    remove.addEventListener('click', () => {
      this.stop();
      onRemove(this);
    });
  }

  /** Reads the task, then follows its events until it is final. */
  async start(accepted?: Accepted): Promise<void> {
    try {
      if (accepted !== undefined) {
        this.element.dataset.status = accepted.status;
        this.statusLine.textContent = `${STATUS_WORDS[accepted.status] ?? accepted.status} · 0 %`;
      }
      this.show(await getJson<Task>(`/api/task/${encodeURIComponent(this.id)}`, { signal: this.following.signal }));
    } catch (error) {
      if (this.following.signal.aborted) return;
      this.fail(asApiError(error));
      return;
    }
    if (FINAL_STATUSES.includes(this.task!.status)) return;
    await followTask(
      this.id,
      {
        onEvent: (event) => this.apply(event),
        onTask: (task) => this.show(task),
        onError: (error) => this.fail(error),
      },
      this.following.signal,
    );
  }

  stop(): void {
    this.following.abort();
    this.audio.pause();
  }

  private apply(event: TaskEvent): void {
    if (this.task === undefined) return;
    this.show({ ...this.task, status: event.status, progress: { segments_done: event.segments_done, segments_total: event.segments_total }, error: event.error });
    // The final record holds what the events do not (the result's size and duration).
    if (FINAL_STATUSES.includes(event.status)) {
      void getJson<Task>(`/api/task/${encodeURIComponent(this.id)}`)
        .then((task) => this.show(task))
        .catch((error: unknown) => this.fail(asApiError(error)));
    }
  }

  private show(task: Task): void {
    this.task = task;
    const percent = percentOf(task);
    const { segments_done: done, segments_total: total } = task.progress;
    this.element.dataset.status = task.status;
    this.progress.value = percent;
    this.progress.setAttribute('aria-valuetext', `${percent} %`);
    const parts = [STATUS_WORDS[task.status] ?? task.status];
    if (total > 0) parts.push(`${done}/${total} segments`);
    parts.push(`${percent} %`);
    if (task.result !== null) parts.push(formatSeconds(task.result.duration_ms));
    this.statusLine.textContent = parts.join(' · ');
    this.meta.textContent = [task.format || undefined, task.engine ?? undefined, task.created_at ? new Date(task.created_at).toLocaleTimeString() : undefined].filter(Boolean).join(' · ');
    if (task.error !== null) showError(this.error, new ApiError(task.error.code, task.error.message, 0));
    const final = FINAL_STATUSES.includes(task.status);
    this.play.disabled = task.status === 'failed' || task.status === 'canceled';
    this.download.disabled = task.status !== 'completed' || task.result === null || task.result.expired;
    this.cancel.disabled = final;
    if (final && (task.status !== 'completed' || task.result !== null)) {
      for (const resolve of this.waiters.splice(0)) resolve(task);
    }
  }

  private fail(error: ApiError): void {
    showError(this.error, error);
    if (this.task === undefined) {
      this.element.dataset.status = 'unknown';
      this.statusLine.textContent = 'Not available';
      this.play.disabled = true;
    }
  }

  private completed(): Promise<Task> {
    const task = this.task;
    if (task !== undefined && FINAL_STATUSES.includes(task.status) && (task.status !== 'completed' || task.result !== null)) return Promise.resolve(task);
    this.statusLine.textContent += ' · plays when done';
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async startPlaying(): Promise<void> {
    if (this.task === undefined) return;
    this.audio.hidden = false;
    await this.act(() => playTask(this.audio, this.task!, () => this.completed()));
  }

  private async act(action: () => Promise<unknown>): Promise<void> {
    showError(this.error, '');
    try {
      await action();
    } catch (error) {
      showError(this.error, asApiError(error));
    }
  }
}

export class TaskList {
  private rows = new Map<string, TaskRow>();

  constructor(
    private readonly list: HTMLUListElement,
    private readonly empty: HTMLElement,
  ) {}

  /** (Re)builds the list from local storage: after a reload, or when the key changed. */
  load(): void {
    for (const row of this.rows.values()) row.stop();
    this.rows.clear();
    this.list.replaceChildren();
    for (const id of storedTaskIds()) {
      const row = this.row(id);
      this.list.append(row.element);
      void row.start();
    }
    this.refreshEmpty();
  }

  add(accepted: Accepted): void {
    addTaskId(accepted.id);
    this.rows.get(accepted.id)?.element.remove();
    const row = this.row(accepted.id);
    this.list.prepend(row.element);
    this.refreshEmpty();
    void row.start(accepted);
  }

  private row(id: string): TaskRow {
    const row = new TaskRow(id, (removed) => {
      removeTaskId(removed.id);
      this.rows.delete(removed.id);
      removed.element.remove();
      this.refreshEmpty();
    });
    this.rows.set(id, row);
    return row;
  }

  private refreshEmpty(): void {
    this.empty.hidden = this.rows.size > 0;
  }
}
