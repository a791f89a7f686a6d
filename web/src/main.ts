/** The page: the key, the synthesis form, the engines' choices, and the task and voice lists. */

import './style.css';
import { type Accepted, asApiError, type Engine, getJson, postJson } from './api.js';
import { byId, h, showError } from './dom.js';
import { storedKey, storeKey } from './store.js';
import { TaskList } from './tasks.js';
import { VoiceLibrary } from './voices.js';

const messages = byId<HTMLElement>('messages');
/** Errors that belong to no form (loading the lists): shown once each, at the top. */
function report(error: unknown): void {
  const text = String(asApiError(error));
  if ([...messages.children].some((child) => child.textContent === text)) return;
  messages.append(h('p', { class: 'error' }, text));
}

const tasks = new TaskList(byId('tasks'), byId('tasks-empty'));
const voices = new VoiceLibrary(report);
let engines: Engine[] = [];

async function loadEngines(): Promise<void> {
  try {
    engines = (await getJson<{ engines: Engine[] }>('/api/engines')).engines;
  } catch (error) {
    engines = [];
    report(error);
  }
  const select = byId<HTMLSelectElement>('engine');
  const chosen = select.value;
  select.replaceChildren(
    h('option', { value: '' }, 'Automatic'),
    ...engines.map((engine) => h('option', { value: engine.engine }, engine.cloning ? `${engine.engine} (clones voices)` : engine.engine)),
  );
  if (engines.some((engine) => engine.engine === chosen)) select.value = chosen;
  showRates();
}

/** The rates of the chosen engine, or of every engine when the service chooses. */
function showRates(): void {
  const engine = byId<HTMLSelectElement>('engine').value;
  const select = byId<HTMLSelectElement>('sample-rate');
  const chosen = select.value;
  const rates = [...new Set(engines.filter((candidate) => engine === '' || candidate.engine === engine).flatMap((candidate) => candidate.sample_rates))].sort((a, b) => a - b);
  select.replaceChildren(h('option', { value: '' }, 'Engine default'), ...rates.map((rate) => h('option', { value: String(rate) }, `${rate} Hz`)));
  if (rates.includes(Number(chosen))) select.value = chosen;
}

/** Everything the lists show depends on the key: read it all again. */
function reload(): void {
  messages.replaceChildren();
  byId('key-state').textContent = storedKey() === '' ? 'No key: fine on loopback before any key exists.' : 'A key is set; it is sent with every request.';
  void loadEngines();
  void voices.load();
  tasks.load();
}

function wireKey(): void {
  const input = byId<HTMLInputElement>('api-key');
  input.value = storedKey();
  byId<HTMLFormElement>('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    storeKey(input.value.trim());
    reload();
  });
  byId<HTMLButtonElement>('key-forget').addEventListener('click', () => {
    input.value = '';
    storeKey('');
    reload();
  });
}

function wireSynthesis(): void {
  const form = byId<HTMLFormElement>('synth-form');
  const error = byId<HTMLElement>('synth-error');
  const submit = byId<HTMLButtonElement>('synth-submit');
  byId<HTMLSelectElement>('engine').addEventListener('change', showRates);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      showError(error, '');
      // The service checks the text (empty, too long, nothing to speak): its answer is shown as it is.
      const body: Record<string, unknown> = { text: byId<HTMLTextAreaElement>('text').value, format: byId<HTMLSelectElement>('format').value };
      const voice = byId<HTMLSelectElement>('voice').value;
      const engine = byId<HTMLSelectElement>('engine').value;
      const rate = byId<HTMLSelectElement>('sample-rate').value;
      const priority = byId<HTMLInputElement>('priority').value.trim();
      if (voice !== '') body.voice_id = voice;
      if (engine !== '') body.engine = engine;
      if (rate !== '') body.sample_rate = Number(rate);
      if (priority !== '') body.priority = Number(priority);
      submit.disabled = true;
      try {
        tasks.add(await postJson<Accepted>('/api/synthesis', body));
      } catch (failure) {
        showError(error, asApiError(failure));
      } finally {
        submit.disabled = false;
      }
    })();
  });
}

// One sound at a time: starting a player pauses the others.
document.addEventListener(
  'play',
  (event) => {
    for (const audio of document.querySelectorAll('audio')) if (audio !== event.target) audio.pause();
  },
  true,
);

wireKey();
wireSynthesis();
voices.wireForm();
reload();
