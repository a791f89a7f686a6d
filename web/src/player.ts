/**
 * Playing a task's audio. While a task runs, its audio is streamed as segments finish where
 * the service offers it (`links.stream`, as mp3); otherwise, and once the task is completed,
 * the finished file is played. `<audio src>` cannot send an API key: with a key the audio is
 * fetched and played through a blob URL (the file) or MediaSource (the stream).
 */

import { ApiError, send, type Task } from './api.js';
import { storedKey } from './store.js';

/** The browser-playable form of a stream: MediaSource takes mp3 in every current browser. */
const STREAM_FORMAT = 'mp3';
const STREAM_TYPE = 'audio/mpeg';

const objectUrls = new WeakMap<HTMLAudioElement, string>();

function setSource(audio: HTMLAudioElement, src: string, how: 'stream' | 'file', objectUrl = false): void {
  const previous = objectUrls.get(audio);
  if (previous !== undefined) URL.revokeObjectURL(previous);
  if (objectUrl) objectUrls.set(audio, src);
  else objectUrls.delete(audio);
  audio.dataset.source = how;
  audio.src = src;
}

export function streamUrl(task: Task): string | undefined {
  const stream = task.links.stream;
  if (stream === undefined) return undefined;
  return stream.includes('?') ? stream : `${stream}?format=${STREAM_FORMAT}`;
}

/**
 * Plays `task` in `audio`. `completed` resolves with the task once it is final (the page
 * follows its events anyway); a task that cannot be streamed is played when that happens.
 */
export async function playTask(audio: HTMLAudioElement, task: Task, completed: () => Promise<Task>): Promise<void> {
  const stream = streamUrl(task);
  if (stream !== undefined && task.status !== 'failed' && task.status !== 'canceled' && (task.status !== 'completed' || task.result?.format === 'pcm')) {
    try {
      await playStream(audio, stream);
      return;
    } catch {
      // Not streamable here (no such route on this service, no MediaSource for mp3): the finished file, then.
    }
  }
  const done = task.status === 'completed' ? task : await completed();
  if (done.status !== 'completed' || done.result === null) {
    throw done.error === null ? new ApiError('E_TASK_NOT_READY', `The task is ${done.status}; it has no audio.`, 409) : new ApiError(done.error.code, done.error.message, 0);
  }
  if (done.result.format === 'pcm') throw new ApiError('PCM_NOT_PLAYABLE', 'Raw PCM has no header a browser can play: download it, or choose another format.', 0);
  if (storedKey() === '') {
    setSource(audio, done.links.audio, 'file');
  } else {
    const blob = await (await send(done.links.audio)).blob();
    setSource(audio, URL.createObjectURL(blob), 'file', true);
  }
  await audio.play();
}

async function playStream(audio: HTMLAudioElement, url: string): Promise<void> {
  if (storedKey() === '') {
    setSource(audio, url, 'stream');
    await audio.play();
    return;
  }
  if (typeof MediaSource === 'undefined' || !MediaSource.isTypeSupported(STREAM_TYPE)) throw new Error('no MediaSource for mp3');
  const response = await send(url);
  if (response.body === null) throw new Error('no body');
  const source = new MediaSource();
  setSource(audio, URL.createObjectURL(source), 'stream', true);
  await new Promise((resolve) => source.addEventListener('sourceopen', resolve, { once: true }));
  const buffer = source.addSourceBuffer(STREAM_TYPE);
  const reader = response.body.getReader();
  const append = (chunk: Uint8Array): Promise<void> =>
    new Promise((resolve, reject) => {
      buffer.addEventListener('updateend', () => resolve(), { once: true });
      buffer.addEventListener('error', () => reject(new Error('the stream could not be decoded')), { once: true });
      buffer.appendBuffer(chunk as Uint8Array<ArrayBuffer>);
    });
  const first = await reader.read();
  if (first.done) throw new Error('empty stream');
  await append(first.value);
  // The rest is fed while it plays.
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        await append(value);
      }
      if (source.readyState === 'open') source.endOfStream();
    } catch {
      if (source.readyState === 'open') source.endOfStream('network');
    }
  })();
  await audio.play();
}

/** Saves the task's file: a link where no key is needed, else fetched with the key and saved from a blob. */
export async function downloadTask(task: Task): Promise<void> {
  const link = document.createElement('a');
  const extension = task.result?.format === 'opus' ? 'ogg' : (task.result?.format ?? task.format);
  link.download = `${task.id}.${extension}`;
  let objectUrl: string | undefined;
  if (storedKey() === '') {
    link.href = task.links.audio;
  } else {
    objectUrl = URL.createObjectURL(await (await send(task.links.audio)).blob());
    link.href = objectUrl;
  }
  document.body.append(link);
  link.click();
  link.remove();
  if (objectUrl !== undefined) setTimeout(() => URL.revokeObjectURL(objectUrl), 60_000);
}
