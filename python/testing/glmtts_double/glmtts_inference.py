"""Test double of GLM-TTS's glmtts_inference.py: the same functions, signatures and return
shapes, no model. Each text chunk costs GLMTTS_DOUBLE_CHUNK_SECONDS of simulated GPU time and
becomes a tone; every call is appended to GLMTTS_DOUBLE_LOG (JSON lines) for tests to read."""

import argparse
import json
import logging
import math
import os
import re
import struct
import time
import wave

import torch

CURRENT_DIR = os.path.dirname(os.path.abspath(__file__))
DEVICE = torch.device("cpu")
_CHUNK_END = re.compile(r"(?<=[。！？.!?])")


def record(call, **fields):
    path = os.environ.get("GLMTTS_DOUBLE_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"pid": os.getpid(), "call": call, **fields}, ensure_ascii=False) + "\n")


def _seconds(name, default):
    return float(os.environ.get(name, default))


class TextFrontEnd:
    """Normalises by trimming; its phoneme pass applies the replace dictionary, longest key first."""

    def __init__(self, use_phoneme):
        self.use_phoneme = use_phoneme
        if use_phoneme:
            self.replace_dict = {"弦": "<|X|><|IAN2|>"}  # the real one ships entries too

    def text_normalize(self, text):
        record("text_normalize", text=text)
        return text.strip()

    def split_by_len(self, text, min_text_len=30, max_text_len=60):
        return [chunk for chunk in _CHUNK_END.split(text) if chunk.strip()]

    def g2p_infer(self, text):
        keys = sorted(self.replace_dict, key=len, reverse=True)
        out, i = [], 0
        while i < len(text):
            key = next((k for k in keys if text.startswith(k, i)), None)
            out.append(self.replace_dict[key] if key else text[i])
            i += len(key) if key else 1
        result = "".join(out)
        record("g2p_infer", text=text, result=result, replace_dict=dict(self.replace_dict))
        return result


class TTSFrontEnd:
    def __init__(self, sample_rate):
        self.sample_rate = sample_rate

    def _extract_text_token(self, text):
        return torch.tensor([[ord(c) for c in text]], dtype=torch.int32)

    def _extract_speech_token(self, path_or_tuple):
        path = path_or_tuple[0]
        with wave.open(path, "rb") as audio:  # a missing or broken reference fails as in GLM-TTS
            frames = audio.getnframes() / audio.getframerate()
        record("_extract_speech_token", path=path)
        return torch.tensor([[i % 4096 for i in range(int(frames * 25))]], dtype=torch.int32)

    def _extract_speech_feat(self, speech, sample_rate=24000):
        record("_extract_speech_feat", path=speech, sample_rate=sample_rate)
        return torch.tensor([[[0.0] * 80]])

    def _extract_spk_embedding(self, speech):
        record("_extract_spk_embedding", path=speech)
        return torch.tensor([[0.1] * 192])


class _Module:
    def __init__(self, name):
        self.name = name

    def to(self, target):
        record(f"{self.name}.to", target=repr(target))
        return self


class GLMTTS:
    def __init__(self):
        self.llama = _Module("llm.llama")

    def inference(self, text, text_len, prompt_text, prompt_text_len, prompt_speech_token, prompt_speech_token_len,
                  beam_size=1, sampling=25, sample_method="ras", spk=None):
        marker = os.environ.get("GLMTTS_DOUBLE_OOM_MARKER")
        if marker and marker in "".join(chr(v) for v in text.values):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (test double)")
        start = time.time()
        time.sleep(_seconds("GLMTTS_DOUBLE_CHUNK_SECONDS", "0.01"))
        record("gpu", start=start, end=time.time(), sample_method=sample_method)
        return torch.tensor([[1 + v % 4000 for v in text.values]], dtype=torch.int64)


class Token2Wav:
    def __init__(self, sample_rate):
        self.sample_rate = sample_rate

    def token2wav_with_cache(self, token_list, prompt_token=None, prompt_feat=None, embedding=None):
        count = int(self.sample_rate * 0.04) * max(1, len(token_list))
        pitch = 2 * math.pi * 220.0 / self.sample_rate
        wav = torch.Tensor([0.3 * math.sin(pitch * i) for i in range(count)], (1, count))
        return wav, None


def local_llm_forward(llm, prompt_text_token, tts_text_token, prompt_speech_token, beam_size=1, sampling=25, sample_method="ras"):
    tokens = llm.inference(
        text=tts_text_token, text_len=None, prompt_text=prompt_text_token, prompt_text_len=None,
        prompt_speech_token=prompt_speech_token, prompt_speech_token_len=None,
        beam_size=beam_size, sampling=sampling, sample_method=sample_method,
    )
    return tokens[0].tolist() if tokens.ndim == 1 else tokens.tolist()[0]


def local_flow_forward(flow, token_list, prompt_speech_tokens, speech_feat, embedding):
    wav, full_mel = flow.token2wav_with_cache(token_list, prompt_token=prompt_speech_tokens, prompt_feat=speech_feat, embedding=embedding)
    return wav.detach().cpu(), full_mel


def generate_long(frontend, text_frontend, llm, flow, text_info, cache, device, embedding, seed=0,
                  sample_method="ras", flow_prompt_token=None, speech_feat=None,
                  local_llm_forward=local_llm_forward, local_flow_forward=local_flow_forward, use_phoneme=False):
    record(
        "generate_long", uttid=text_info[0], text=text_info[1], seed=seed, sample_method=sample_method,
        use_phoneme=use_phoneme, use_cache=cache["use_cache"], cache_id=id(cache),
        cache_sizes=[len(cache["cache_text"]), len(cache["cache_text_token"]), len(cache["cache_speech_token"])],
    )
    outputs, tokens = [], []
    for chunk in text_frontend.split_by_len(text_info[1]):
        chunk = text_frontend.text_normalize(chunk)
        if use_phoneme:
            chunk = text_frontend.g2p_infer(chunk)
        chunk_token = frontend._extract_text_token(chunk)
        chunk_tokens = local_llm_forward(
            llm=llm, prompt_text_token=cache["cache_text_token"][0], tts_text_token=chunk_token,
            prompt_speech_token=torch.tensor([cache["cache_speech_token"][0]], dtype=torch.int32), sample_method=sample_method,
        )
        wav, _ = local_flow_forward(flow=flow, token_list=chunk_tokens, prompt_speech_tokens=flow_prompt_token,
                                    speech_feat=speech_feat, embedding=embedding)
        cache["cache_text"].append(chunk)
        cache["cache_text_token"].append(chunk_token)
        cache["cache_speech_token"].append(chunk_tokens)
        outputs.append(wav)
        tokens.extend(chunk_tokens)
    return torch.concat(outputs, dim=1), None, tokens, {"uttid": text_info[0], "syn_text": text_info[1]}


def load_models(use_phoneme=False, sample_rate=24000):
    if sample_rate not in (24000, 32000):
        raise ValueError(f"Unsupported sampling_rate: {sample_rate}")
    print("Configured for %d frontend." % sample_rate)  # GLM-TTS prints to stdout too
    start = time.time()
    time.sleep(_seconds("GLMTTS_DOUBLE_LOAD_SECONDS", "0"))
    record("load_models", use_phoneme=use_phoneme, sample_rate=sample_rate, start=start, end=time.time(),
           cwd=os.getcwd(), visible_gpus=os.environ.get("CUDA_VISIBLE_DEVICES"))
    return TTSFrontEnd(sample_rate), TextFrontEnd(use_phoneme), object(), GLMTTS(), Token2Wav(sample_rate)


def _write_float_wav(path, samples, sample_rate):
    data = struct.pack(f"<{len(samples)}f", *samples)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 3, 1,
                         sample_rate, sample_rate * 4, 4, 32, b"data", len(data))
    with open(path, "wb") as out:
        out.write(header + data)


def jsonl_generate(data_name, folder_path, sample_rate=24000, seed=0, use_cache=True, use_phoneme=False):
    """As the real one: one item failing is logged and skipped; the exit status stays 0."""
    with open(os.path.join("examples", data_name + ".jsonl"), encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    for item in items:
        try:
            prompt_speech = item["prompt_speech"]
            frontend._extract_speech_token([prompt_speech])
            cache = {"cache_text": [item["prompt_text"]], "cache_text_token": [frontend._extract_text_token(item["prompt_text"])],
                     "cache_speech_token": [[1, 2, 3]], "use_cache": use_cache}
            speech, _, _, _ = generate_long(frontend, text_frontend, llm, flow, [item["uttid"], text_frontend.text_normalize(item["syn_text"])],
                                            cache, DEVICE, None, seed=seed, use_phoneme=use_phoneme)
            _write_float_wav(os.path.join(folder_path, f"{item['uttid']}.wav"), speech.values, sample_rate)
        except Exception as error:
            logging.error(f"Error processing {item.get('uttid', 'unknown')}: {error}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="GLM-TTS Inference Script (test double)")
    parser.add_argument("--data", default="example_zh", type=str)
    parser.add_argument("--exp_name", default="_test", type=str)
    parser.add_argument("--use_cache", action="store_true", default=True)
    parser.add_argument("--use_phoneme", action="store_true", default=False)
    parser.add_argument("--sample_rate", type=int, default=24000)
    args = parser.parse_args()
    record("cli", argv=vars(args))
    frontend, text_frontend, speech_tokenizer, llm, flow = load_models(use_phoneme=args.use_phoneme, sample_rate=args.sample_rate)
    folder_path = os.path.join(CURRENT_DIR, "outputs", f"pretrain{args.exp_name}", args.data)
    os.makedirs(folder_path, exist_ok=True)
    jsonl_generate(args.data, folder_path, sample_rate=args.sample_rate, use_cache=args.use_cache, use_phoneme=args.use_phoneme)
