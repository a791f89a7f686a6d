/**
 * The voice library: the stored voices (list, play, delete) and the form that adds one from a
 * file or from a recording made here (MediaRecorder; the service normalises it like any upload).
 */

import { asApiError, getJson, send, type Voice } from './api.js';
import { byId, formatSeconds, h, showError } from './dom.js';
import { Recorder, type Recording } from './recorder.js';
import { storedKey } from './store.js';

export class VoiceLibrary {
  private voices: Voice[] = [];
  private readonly list = byId<HTMLUListElement>('voices');
  private readonly empty = byId<HTMLElement>('voices-empty');
  private readonly select = byId<HTMLSelectElement>('voice');
  private readonly formError = byId<HTMLElement>('voice-error');

  constructor(private readonly report: (error: unknown) => void) {}

  async load(): Promise<void> {
    try {
      this.voices = (await getJson<{ voices: Voice[] }>('/api/voices')).voices;
    } catch (error) {
      this.voices = [];
      this.report(asApiError(error));
    }
    this.render();
  }

  private render(): void {
    this.list.replaceChildren(
      ...this.voices.map((voice) => {
        const remove = h('button', { type: 'button', 'aria-label': `Delete the voice ${voice.name}` }, 'Delete');
        remove.addEventListener('click', () => void this.remove(voice));
        const player = h('audio', { controls: '', preload: 'none', hidden: '', 'aria-label': `The recording of ${voice.name}` });
        const play = h('button', { type: 'button', 'aria-label': `Play the voice ${voice.name}` }, 'Play');
        play.addEventListener('click', () => void this.play(voice, player));
        const details = [formatSeconds(voice.duration_ms), voice.speaker_name === null ? undefined : `voice of ${voice.speaker_name}`].filter(Boolean).join(' · ');
        return h(
          'li',
          { class: 'voice', 'data-voice-id': voice.id },
          h('div', {}, h('strong', {}, voice.name), ' ', h('span', { class: 'hint' }, details)),
          h('p', { class: 'hint transcript' }, voice.prompt_text === '' ? '(no transcript)' : `“${voice.prompt_text}”`),
          h('div', { class: 'actions' }, play, remove),
          player,
        );
      }),
    );
    this.empty.hidden = this.voices.length > 0;
    const chosen = this.select.value;
    this.select.replaceChildren(h('option', { value: '' }, "The engine's own voice"), ...this.voices.map((voice) => h('option', { value: voice.id }, voice.name)));
    if (this.voices.some((voice) => voice.id === chosen)) this.select.value = chosen;
  }

  /** Plays the recording as the engines hear it; with a key it is fetched (an `<audio src>` cannot send one). */
  private async play(voice: Voice, player: HTMLAudioElement): Promise<void> {
    const path = `/api/voices/${encodeURIComponent(voice.id)}/audio`;
    try {
      if (player.src === '') player.src = storedKey() === '' ? path : URL.createObjectURL(await (await send(path)).blob());
      player.hidden = false;
      await player.play();
    } catch (error) {
      this.report(asApiError(error));
    }
  }

  private async remove(voice: Voice): Promise<void> {
    if (!confirm(`Delete the voice “${voice.name}”? Tasks already made keep their audio.`)) return;
    try {
      await send(`/api/voices/${encodeURIComponent(voice.id)}`, { method: 'DELETE' });
    } catch (error) {
      this.report(asApiError(error));
    }
    await this.load();
  }

  /** Wires the "Add a voice" form: a file or a recording, its transcript and the speaker's consent. */
  wireForm(): void {
    const form = byId<HTMLFormElement>('voice-form');
    const file = byId<HTMLInputElement>('voice-file');
    const recordButton = byId<HTMLButtonElement>('record');
    const recordTime = byId<HTMLOutputElement>('record-time');
    const recordState = byId<HTMLElement>('record-state');
    const preview = byId<HTMLAudioElement>('record-preview');
    const discard = byId<HTMLButtonElement>('record-discard');
    const submit = byId<HTMLButtonElement>('voice-submit');
    const recorder = new Recorder();
    let recording: Recording | undefined;
    let timer: number | undefined;

    const setRecording = (value: Recording | undefined): void => {
      recording = value;
      if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
      preview.hidden = value === undefined;
      discard.hidden = value === undefined;
      if (value === undefined) {
        preview.removeAttribute('src');
        recordTime.value = '0.0 s';
        recordState.textContent = '';
      } else {
        preview.src = URL.createObjectURL(value.blob);
        recordState.textContent = `Recorded ${value.seconds.toFixed(1)} s: it is used instead of a file.`;
      }
    };

    if (!Recorder.supported()) {
      recordButton.disabled = true;
      recordState.textContent = 'This browser cannot record here (it needs https, or localhost).';
    }
    recordButton.addEventListener('click', () => {
      void (async () => {
        showError(this.formError, '');
        try {
          if (!recorder.recording) {
            setRecording(undefined);
            await recorder.start();
            recordButton.textContent = 'Stop recording';
            recordButton.setAttribute('aria-pressed', 'true');
            recordState.textContent = 'Recording…';
            timer = window.setInterval(() => {
              recordTime.value = `${recorder.elapsedSeconds.toFixed(1)} s`;
            }, 100);
          } else {
            window.clearInterval(timer);
            recordButton.textContent = 'Record with the microphone';
            recordButton.setAttribute('aria-pressed', 'false');
            const made = await recorder.stop();
            recordTime.value = `${made.seconds.toFixed(1)} s`;
            setRecording(made);
          }
        } catch (error) {
          window.clearInterval(timer);
          recordButton.textContent = 'Record with the microphone';
          recordButton.setAttribute('aria-pressed', 'false');
          showError(this.formError, `MICROPHONE: ${error instanceof Error ? error.message : String(error)}`);
        }
      })();
    });
    discard.addEventListener('click', () => setRecording(undefined));

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void (async () => {
        showError(this.formError, '');
        const data = new FormData();
        // Fields first, the file last: the service reads the fields before it stores the upload.
        data.set('name', byId<HTMLInputElement>('voice-name').value);
        data.set('prompt_text', byId<HTMLTextAreaElement>('voice-prompt').value);
        const speaker = byId<HTMLInputElement>('voice-speaker').value;
        if (speaker !== '') data.set('speaker_name', speaker);
        if (byId<HTMLInputElement>('voice-consent').checked) data.set('consent', 'true');
        const chosen = file.files?.[0];
        if (recording !== undefined) data.set('audio', recording.blob, recording.fileName);
        else if (chosen !== undefined) data.set('audio', chosen, chosen.name);
        submit.disabled = true;
        try {
          const voice = await getJson<Voice>('/api/voices', { method: 'POST', body: data });
          form.reset();
          setRecording(undefined);
          await this.load();
          this.select.value = voice.id;
          recordState.textContent = `Added the voice “${voice.name}” (${formatSeconds(voice.duration_ms)}).`;
        } catch (error) {
          showError(this.formError, asApiError(error));
        } finally {
          submit.disabled = false;
        }
      })();
    });
  }
}
