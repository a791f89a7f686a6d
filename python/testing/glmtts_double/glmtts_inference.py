"""Test double of GLM-TTS's glmtts_inference.py: the same functions, signatures, return shapes
and command line, and the same flow where the hosts depend on it (text chunks, the job's seed
set once per chunk, the prompt cache, the shape checks of the LLM step); no model. Each text
chunk costs GLMTTS_DOUBLE_CHUNK_SECONDS of simulated GPU time and becomes a tone; every call
is appended to GLMTTS_DOUBLE_LOG (JSON lines) for tests to read. It must pass
python/hosts/glmtts_drift.py, as a real checkout does."""

import argparse
import json
import logging
import os
import struct
import time

import torch
from cosyvoice.cli.frontend import TextFrontEnd, TTSFrontEnd
from llm.glmtts import GLMTTS, LlamaForCausalLM  # the real one imports it from transformers
from utils import seed_util
from utils.double import record, seconds
from utils.tts_model_util import Token2Wav

CURRENT_DIR = os.path.dirname(os.path.abspath(__file__))
DEVICE = torch.device("cpu")
MAX_LLM_SEQ_INP_LEN = 750


def _assert_shape_and_get_len(token):
    """As GLM-TTS's: every token tensor of the LLM step is 2-D with one row."""
    assert token.ndim == 2 and token.shape[0] == 1, f"a (1, N) token tensor is expected, got shape {token.shape}"
    return torch.tensor([token.shape[1]], dtype=torch.int32)


def local_llm_forward(llm, prompt_text_token, tts_text_token, prompt_speech_token, beam_size=1, sampling=25, sample_method="ras"):
    tokens = llm.inference(
        text=tts_text_token, text_len=_assert_shape_and_get_len(tts_text_token),
        prompt_text=prompt_text_token, prompt_text_len=_assert_shape_and_get_len(prompt_text_token),
        prompt_speech_token=prompt_speech_token, prompt_speech_token_len=_assert_shape_and_get_len(prompt_speech_token),
        beam_size=beam_size, sampling=sampling, sample_method=sample_method, spk=None,
    )
    return tokens[0].tolist()


def local_flow_forward(flow, token_list, prompt_speech_tokens, speech_feat, embedding):
    wav, full_mel = flow.token2wav_with_cache(token_list, prompt_token=prompt_speech_tokens, prompt_feat=speech_feat, embedding=embedding)
    return wav.detach().cpu(), full_mel


def get_cached_prompt(cache, synth_text_token, device=DEVICE):
    """As GLM-TTS's: the prompt is the whole cache (the voice's prompt, then the chunks said so
    far), less the oldest chunks while it would be too long; reads the shapes GLM-TTS reads."""
    texts, text_tokens, speech_tokens = cache["cache_text"], cache["cache_text_token"], cache["cache_speech_token"]
    ratio = sum(map(len, speech_tokens)) / max(1, sum(t.shape[1] for t in text_tokens))
    while sum(map(len, speech_tokens)) + int(ratio * synth_text_token.shape[1]) > MAX_LLM_SEQ_INP_LEN and len(speech_tokens) > 1:
        for kept in (texts, text_tokens, speech_tokens):
            kept.pop(1)
    prompt_text = [v for t in text_tokens for v in t.squeeze().tolist()]
    prompt_speech = [v for tokens in speech_tokens for v in tokens]
    return torch.tensor([prompt_text], dtype=torch.int64), torch.tensor([prompt_speech], dtype=torch.int32)


def generate_long(frontend, text_frontend, llm, flow, text_info, cache, device, embedding, seed=0,
                  sample_method="ras", flow_prompt_token=None, speech_feat=None,
                  local_llm_forward=local_llm_forward, local_flow_forward=local_flow_forward, use_phoneme=False):
    record(
        "generate_long", uttid=text_info[0], text=text_info[1], seed=seed, sample_method=sample_method,
        use_phoneme=use_phoneme, use_cache=cache["use_cache"], cache_id=id(cache),
        cache_sizes=[len(cache["cache_text"]), len(cache["cache_text_token"]), len(cache["cache_speech_token"])],
    )
    uttid, syn_text = text_info[0], text_info[1]
    text_tn = {"uttid": uttid, "syn_text": syn_text, "syn_text_tn": [], "syn_text_phoneme": []}
    outputs, output_tokens = [], []
    for chunk in text_frontend.split_by_len(syn_text):
        seed_util.set_seed(seed)  # as GLM-TTS: each chunk is sampled from the job's seed afresh
        chunk = text_frontend.text_normalize(chunk)
        text_tn["syn_text_tn"].append(chunk)
        if use_phoneme:
            chunk = text_frontend.g2p_infer(chunk)
            text_tn["syn_text_phoneme"].append(chunk)
        chunk_token = frontend._extract_text_token(chunk)
        if cache["use_cache"] and len(cache["cache_text_token"]) > 1:
            prompt_text_token, prompt_speech_token = get_cached_prompt(cache, chunk_token, device)
        else:
            prompt_text_token = cache["cache_text_token"][0].to(device)
            prompt_speech_token = torch.tensor([cache["cache_speech_token"][0]], dtype=torch.int32).to(device)
        chunk_tokens = local_llm_forward(
            llm=llm, prompt_text_token=prompt_text_token, tts_text_token=chunk_token,
            prompt_speech_token=prompt_speech_token, sample_method=sample_method,
        )
        wav, _ = local_flow_forward(flow=flow, token_list=chunk_tokens, prompt_speech_tokens=flow_prompt_token,
                                    speech_feat=speech_feat, embedding=embedding)
        cache["cache_text"].append(chunk)
        cache["cache_text_token"].append(chunk_token)
        cache["cache_speech_token"].append(chunk_tokens)
        outputs.append(wav)
        output_tokens.extend(chunk_tokens)
    return torch.concat(outputs, dim=1), None, output_tokens, text_tn


def load_models(use_phoneme=False, sample_rate=24000):
    if sample_rate not in (24000, 32000):
        raise ValueError(f"Unsupported sampling_rate: {sample_rate}")
    print("Configured for %d frontend." % sample_rate)  # GLM-TTS prints to stdout too
    start = time.time()
    time.sleep(seconds("GLMTTS_DOUBLE_LOAD_SECONDS", "0"))
    record("load_models", use_phoneme=use_phoneme, sample_rate=sample_rate, start=start, end=time.time(),
           cwd=os.getcwd(), visible_gpus=os.environ.get("CUDA_VISIBLE_DEVICES"))
    llama_path = os.path.join("ckpt", "llm")
    llm = GLMTTS(llama_cfg_path=os.path.join(llama_path, "config.json"), mode="PRETRAIN")
    llm.llama = LlamaForCausalLM.from_pretrained(llama_path, dtype=torch.float32)
    return TTSFrontEnd(device=DEVICE), TextFrontEnd(use_phoneme), object(), llm, Token2Wav(None, sample_rate=sample_rate, device=DEVICE)


def _write_float_wav(path, samples, sample_rate):
    """As torchaudio.save writes a float32 tensor: a 32-bit float WAV."""
    data = struct.pack(f"<{len(samples)}f", *samples)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 3, 1,
                         sample_rate, sample_rate * 4, 4, 32, b"data", len(data))
    with open(path, "wb") as out:
        out.write(header + data)


def jsonl_generate(data_name, folder_path, sample_rate=24000, seed=0, use_cache=True, use_phoneme=False):
    """As the real one: one item failing is logged and skipped; the exit status stays 0."""
    jsonl_path = os.path.join("examples", data_name + ".jsonl")
    with open(jsonl_path, encoding="utf-8") as handle:
        item_list = [json.loads(line) for line in handle if line.strip()]
    with open(os.path.join(folder_path, "text_compare.jsonl"), "w", encoding="utf-8") as f_out:
        for item in item_list:
            try:
                uttid = item["uttid"]
                wav_save_path = os.path.join(folder_path, f"{uttid}.wav")
                prompt_text = text_frontend.text_normalize(item["prompt_text"])
                synth_text = text_frontend.text_normalize(item["syn_text"])
                prompt_text_token = frontend._extract_text_token(prompt_text + " ")
                prompt_speech_token = frontend._extract_speech_token([item["prompt_speech"]])
                speech_feat = frontend._extract_speech_feat(item["prompt_speech"], sample_rate=sample_rate)
                embedding = frontend._extract_spk_embedding(item["prompt_speech"])
                cache_speech_token = [prompt_speech_token.squeeze().tolist()]
                flow_prompt_token = torch.tensor(cache_speech_token, dtype=torch.int32).to(DEVICE)
                cache = {"cache_text": [prompt_text], "cache_text_token": [prompt_text_token],
                         "cache_speech_token": cache_speech_token, "use_cache": use_cache}
                tts_speech, _, _, text_tn = generate_long(
                    frontend=frontend, text_frontend=text_frontend, llm=llm, flow=flow, text_info=[uttid, synth_text],
                    cache=cache, embedding=embedding, seed=seed, flow_prompt_token=flow_prompt_token,
                    speech_feat=speech_feat, device=DEVICE, use_phoneme=use_phoneme,
                )
                f_out.write(json.dumps(text_tn, ensure_ascii=False, indent=2) + "\n")
                _write_float_wav(wav_save_path, tts_speech.values, sample_rate)
            except Exception as e:
                logging.error(f"Error processing {item.get('uttid', 'unknown')}: {e}")


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
