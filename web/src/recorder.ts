/** Recording a voice in the browser: the microphone through MediaRecorder, as webm/opus where the browser has it. */

const PREFERRED_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'];

export interface Recording {
  blob: Blob;
  /** A file name whose extension matches the container (the service recognises the content, not the name). */
  fileName: string;
  seconds: number;
}

export class Recorder {
  private recorder: MediaRecorder | undefined;
  private stream: MediaStream | undefined;
  private chunks: Blob[] = [];
  private startedAt = 0;

  get recording(): boolean {
    return this.recorder !== undefined;
  }

  get elapsedSeconds(): number {
    return this.recorder === undefined ? 0 : (performance.now() - this.startedAt) / 1000;
  }

  static supported(): boolean {
    return typeof MediaRecorder !== 'undefined' && navigator.mediaDevices?.getUserMedia !== undefined;
  }

  async start(): Promise<void> {
    // Raw speech: the browser's voice-call processing (noise suppression, gain) changes the timbre the engine should copy.
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    const mimeType = PREFERRED_TYPES.find((type) => MediaRecorder.isTypeSupported(type));
    this.recorder = new MediaRecorder(this.stream, mimeType === undefined ? {} : { mimeType });
    this.chunks = [];
    this.recorder.addEventListener('dataavailable', (event) => {
      if (event.data.size > 0) this.chunks.push(event.data);
    });
    this.recorder.start(250);
    this.startedAt = performance.now();
  }

  async stop(): Promise<Recording> {
    const recorder = this.recorder;
    if (recorder === undefined) throw new Error('not recording');
    const seconds = this.elapsedSeconds;
    const stopped = new Promise((resolve) => recorder.addEventListener('stop', resolve, { once: true }));
    recorder.stop();
    await stopped;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.recorder = undefined;
    this.stream = undefined;
    const type = recorder.mimeType || 'audio/webm';
    const extension = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
    return { blob: new Blob(this.chunks, { type }), fileName: `recording.${extension}`, seconds };
  }
}
