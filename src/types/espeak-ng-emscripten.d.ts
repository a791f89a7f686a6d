// The package ships no types; this covers the part of its API the espeak host uses.
declare module '@echogarden/espeak-ng-emscripten' {
  export interface ESpeakNGWorker {
    readonly samplerate: number;
    /** 0 when the voice was found; otherwise the previous voice stays active. */
    set_voice(name: string): number;
    set_rate(wordsPerMinute: number): void;
    set_pitch(pitch: number): void;
    set_range(range: number): void;
    /** Synchronous; each chunk is a fresh copy. Returning true from the callback stops synthesis. */
    synthesize(text: string, onChunk: (samples: Int16Array, events: unknown[]) => boolean | undefined): void;
  }
  export interface ESpeakNGModule {
    eSpeakNGWorker: new () => ESpeakNGWorker;
    /** The WebAssembly memory, all of espeak's state; a new view after the memory grows. */
    readonly HEAPU8: Uint8Array;
  }
  const init: () => Promise<ESpeakNGModule>;
  export default init;
}
