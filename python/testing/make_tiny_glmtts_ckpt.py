#!/usr/bin/env python3
"""Generate a tiny, randomly initialised GLM-TTS checkpoint for CPU tests.

GLM-TTS (zai-org/GLM-TTS, written against commit c5dc7ae) loads its models from
fixed relative paths (see ``glmtts_inference.load_models``).  This script writes a
complete stand-in for those files, small enough that GLM-TTS's *real* code
(frontend, speech tokenizer, Llama LLM, flow-matching DiT, HiFT vocoder) runs end
to end on a CPU in a few seconds:

    OUT/ckpt/vq32k-phoneme-tokenizer/   byte-level BPE text tokenizer (+ special tokens)
    OUT/ckpt/llm/                       tiny LlamaForCausalLM (safetensors)
    OUT/ckpt/speech_tokenizer/          tiny WhisperVQ encoder + WhisperFeatureExtractor
    OUT/ckpt/flow/{config.yaml,flow.pt} HyperPyYAML flow config + tiny DiT weights
    OUT/ckpt/hift/hift.pt               HiFT vocoder weights (24 kHz; fixed architecture)
    OUT/ckpt/vocos2d/generator_jit.ckpt tiny TorchScript stand-in for the 32 kHz Vocos
    OUT/frontend/campplus.onnx          tiny speaker-embedding ONNX model (fbank -> 192)

The weights are random: the audio is noise, only the plumbing is real.  Everything
is a deterministic function of --seed.  The output is generated at test time and
is never committed.

Model classes are imported from the GLM-TTS checkout given by --repo (nothing of
GLM-TTS is copied here), so the checkpoint always matches that checkout's code.

Usage:
    python make_tiny_glmtts_ckpt.py --repo /path/to/GLM-TTS --out DIR [--seed 0]
"""

import argparse
import json
import os
import sys
import time

import torch

# --- Sizes and ids shared by several parts --------------------------------------

N_AUDIO_TOKENS = 32768  # <|audio_0|> .. <|audio_32767|>; also the flow's and VQ's vocab
SPK_EMB_DIM = 192       # CAM++ speaker embedding size, hard-coded in GLM-TTS's flow/DiT
MEL_DIM = 80
# The special tokens glmtts_inference.get_special_token_ids() looks up.
# Order mirrors GLM-4 (control tokens first, audio tokens last).
CONTROL_TOKENS = ["<|endoftext|>", "<|user|>", "<|begin_of_audio|>"]
EOA_TOKEN = "<|user|>"  # GLM-TTS uses <|user|> as end-of-audio

# Tiny Llama (the real one is a GLM-sized LLM).
LLM_HIDDEN = 32
# Per-step probability of end-of-audio once GLM-TTS stops masking it (after
# 2 x text-token steps); keeps random generation short: ~1/EOA_RATE extra tokens.
EOA_RATE = 0.08

# Flow: mirrors the structural flags of the official flow config (speaker
# embedding through adaLN, no concatenated speaker condition, no token CFG),
# 25 Hz speech tokens -> 50 Hz mels.
FLOW_KWARGS = dict(
    speech_token_dim=16,
    vocab_size=N_AUDIO_TOKENS,
    input_frame_rate=25,
    spk_embed_dim=MEL_DIM,
    mel_dim=MEL_DIM,
    mel_framerate=50,
    spkr_emb_adaLN=True,
    speech_token_cfg=False,
    remove_spkr_concat_condition=True,
)
# The DiT that replaces Flow's built-in one (see write_flow).  trans_dim must be
# a multiple of 16 (ConvPositionEmbedding uses groups=16).
TINY_DIT_KWARGS = dict(
    trans_dim=32,
    depth=2,
    heads=2,
    dim_head=16,
    ff_mult=2,
    mel_dim=MEL_DIM,
    text_vocab_size=N_AUDIO_TOKENS,
    text_emb_dim=FLOW_KWARGS["speech_token_dim"],
    conv_layers=4,
    condition_dim=MEL_DIM,  # remove_spkr_concat_condition=True -> mel only
    spkr_emb_adaLN=True,
    wav_lm_emb=False,
)


def seeded(seed, part):
    """Reset torch's RNG per part, so each part depends only on (seed, part)."""
    torch.manual_seed(seed * 1000 + part)


# --- Text tokenizer --------------------------------------------------------------

def _bytes_to_unicode():
    """GPT-2's printable stand-in character for each byte (byte-level BPE alphabet)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def write_text_tokenizer(repo, out_dir):
    """Byte-level tokenizer: every byte is a token (ids 0..255), so any Chinese,
    English or phoneme text encodes losslessly with no UNK.  GLM-TTS's phoneme
    markers (<|SH|>, <|ANG1|>, ... from configs/G2P_all_phonemes.json) are added
    as single tokens, then the control tokens, then the 32768 audio tokens (one
    contiguous block, so ate - ats == 32767).  No post-processor: encode() adds
    no BOS/EOS, as GLM-TTS's tokenize_fn (glm_tokenizer.encode) requires."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    byte_chars = _bytes_to_unicode()
    tok = Tokenizer(models.BPE(vocab={byte_chars[b]: b for b in range(256)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()

    with open(os.path.join(repo, "configs", "G2P_all_phonemes.json"), encoding="utf-8") as f:
        phonemes = json.load(f)
    phoneme_tokens = [f"<|{phonemes[k]}|>" for k in sorted(phonemes, key=int)]
    tok.add_tokens([AddedToken(t, normalized=False) for t in phoneme_tokens])
    specials = CONTROL_TOKENS + [f"<|audio_{i}|>" for i in range(N_AUDIO_TOKENS)]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])

    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    # Written by hand: save_pretrained would list all 33k added tokens again (~6 MB).
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1000000,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    vocab = tok.get_vocab(with_added_tokens=True)
    names = CONTROL_TOKENS + ["<|audio_0|>", f"<|audio_{N_AUDIO_TOKENS - 1}|>"]
    return {name: vocab[name] for name in names}, len(vocab)


# --- LLM -------------------------------------------------------------------------

def write_llm(out_dir, vocab_size, ids, seed):
    """Tiny Llama whose sampling behaves: only audio tokens, then end-of-audio.

    Llama's lm_head has no bias, so hidden dim 0 is turned into a constant "bias
    channel": every token embedding has 1.0 there and no layer writes to it
    (row 0 of o_proj/down_proj is zero), so after the final RMSNorm h[0] is about
    sqrt(hidden) for any input.  Column 0 of lm_head then acts as a per-token bias:
      * non-audio tokens (bytes, phonemes, control tokens): -30, never sampled,
        because GLM-TTS would pass them on as out-of-range speech tokens;
      * end-of-audio (<|user|>): chosen so that RAS sampling (top-25 nucleus,
        cosyvoice/utils/common.py) picks it with probability ~EOA_RATE per step
        once GLM-TTS stops masking it (after 2 x text tokens), instead of running
        to max_len = 20 x text tokens;
      * audio tokens: 0 (their other weights stay small and random).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=LLM_HIDDEN,
        intermediate_size=2 * LLM_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=ids[EOA_TOKEN],
        pad_token_id=ids["<|endoftext|>"],
    )
    seeded(seed, 1)
    model = LlamaForCausalLM(config).eval()
    ats, ate, eoa = ids["<|audio_0|>"], ids[f"<|audio_{N_AUDIO_TOKENS - 1}|>"], ids[EOA_TOKEN]
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 1.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0, :] = 0.0
            layer.mlp.down_proj.weight[0, :] = 0.0
        h0 = LLM_HIDDEN ** 0.5  # value of the bias channel after the final RMSNorm
        # RAS keeps the top 25 tokens: eoa plus 24 near-equal audio tokens
        # (logit ~0), so P(eoa) = e^b / (e^b + 24)  =>  b = ln(24 * r / (1 - r)).
        eoa_bias = torch.log(torch.tensor(24 * EOA_RATE / (1 - EOA_RATE)))
        lm_head = model.lm_head.weight
        bias = torch.full((vocab_size,), -30.0)
        bias[ats:ate + 1] = 0.0
        bias[eoa] = eoa_bias
        lm_head[eoa, :] = 0.0
        lm_head[:, 0] = bias / h0
    model.save_pretrained(out_dir, safe_serialization=True)


# --- Speech tokenizer (WhisperVQ encoder) ---------------------------------------

def write_speech_tokenizer(out_dir, seed):
    """Tiny WhisperVQ encoder with the frontend's strides: 16 kHz, hop 160 ->
    conv2 stride 2 -> pooling 2 = 25 speech tokens/s (the flow's input_frame_rate).
    One encoder layer, pooled and quantised after it; the codebook has 32768
    entries, so token ids fit the LLM's audio tokens and the flow's vocab."""
    from transformers import WhisperFeatureExtractor
    from safetensors.torch import save_file
    from utils.whisper_models.configuration_whisper import WhisperVQConfig
    from utils.whisper_models.modeling_whisper import WhisperVQEncoder

    n_mels = 128  # as whisper-large-v3, which GLM's speech tokenizer derives from
    config = WhisperVQConfig(
        num_mel_bins=n_mels,
        d_model=16,
        encoder_layers=1,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        max_source_positions=1500,  # 30 s chunks at 50 Hz, as the frontend cuts them
        pooling_kernel_size=2,
        pooling_type="avg",
        pooling_position=1,
        quantize_position=1,
        quantize_vocab_size=N_AUDIO_TOKENS,
        quantize_encoder_only=True,
        architectures=["WhisperVQEncoder"],
    )
    seeded(seed, 2)
    encoder = WhisperVQEncoder(config).eval()
    os.makedirs(out_dir, exist_ok=True)
    config.save_pretrained(out_dir)
    # yaml_util.load_quantize_encoder keeps keys under "model.encoder.".
    tensors = {f"model.encoder.{k}": v.contiguous() for k, v in encoder.state_dict().items()}
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    WhisperFeatureExtractor(feature_size=n_mels).save_pretrained(out_dir)


# --- Flow (DiT) --------------------------------------------------------------------

def _yaml_mapping(d, indent=4):
    return "\n".join(f"{' ' * indent}{k}: {v}" for k, v in d.items())


def write_flow(out_dir, seed):
    """Flow config + weights.  flow.flow.Flow hard-codes its DiT size (768 wide,
    18 deep: ~170M parameters, ~680 MB of fp32) from big_model, so the config
    builds Flow as GLM-TTS does and then, with a plain HyperPyYAML !apply of
    setattr, replaces flow.estimator by a tiny DiT (0.67M parameters, 0.52M of
    them the 32769 x 16 speech-token embedding).  Loading still builds the big
    DiT once and drops it (~2.5 s and ~600 MB of peak memory on CPU), but
    flow.pt stays small.
    With remove_spkr_concat_condition=True, Flow has no weights besides the
    estimator, so the state dict is the DiT's under 'estimator.'.  It is saved
    as {"model": state_dict}: yaml_util.load_flow_model reads a plain dict that
    way (only an OrderedDict is taken as the state dict itself)."""
    from flow.dit import DiT

    config = f"""# Tiny random GLM-TTS flow for tests (generated by make_tiny_glmtts_ckpt.py).
flow: !new:flow.flow.Flow
{_yaml_mapping(FLOW_KWARGS)}

# Flow.__init__ always builds the full-size DiT; swap in a tiny one.
tiny_estimator: !new:flow.dit.DiT
{_yaml_mapping(TINY_DIT_KWARGS)}

swap_estimator: !apply:setattr [!ref <flow>, estimator, !ref <tiny_estimator>]
"""
    seeded(seed, 3)
    dit = DiT(**TINY_DIT_KWARGS)
    state = {f"estimator.{k}": v for k, v in dit.state_dict().items()}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.yaml"), "w") as f:
        f.write(config)
    torch.save({"model": state}, os.path.join(out_dir, "flow.pt"))


# --- Vocoders -------------------------------------------------------------------------

def write_hift(out_dir, seed):
    """HiFT (24 kHz) for utils/hift_util.HiFTInference, whose architecture is fixed
    in code (512 base channels, 20.8M parameters).  HiFTInference builds the model
    only together with loading a checkpoint, so its _build_model is called on a
    bare instance.  Parameters are stored as fp16 to halve the file;
    load_state_dict copies them into the fp32 model."""
    from utils.hift_util import HiFTInference

    builder = HiFTInference.__new__(HiFTInference)
    builder.sample_rate, builder.device = 24000, "cpu"
    seeded(seed, 4)
    model = builder._build_model()
    params = {name for name, _ in model.named_parameters()}
    state = {k: (v.half() if k in params else v) for k, v in model.state_dict().items()}
    os.makedirs(out_dir, exist_ok=True)
    torch.save(state, os.path.join(out_dir, "hift.pt"))


class _TinyVocos(torch.nn.Module):
    """Stand-in for the 32 kHz Vocos TorchScript generator: (B, T, 80) log-mel ->
    (B, T * 640) samples (hop 640 at 32 kHz), one linear map per frame.  Plain
    parameters rather than nn.Linear: TorchScript writes nn.Linear's constants
    in set order, which would make the file differ between runs."""

    def __init__(self, hop: int = 640):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(MEL_DIM, hop) * 0.05)
        self.bias = torch.nn.Parameter(torch.zeros(hop))

    def forward(self, mel_btc: torch.Tensor) -> torch.Tensor:
        frames = torch.tanh(torch.matmul(mel_btc, self.weight) + self.bias) * 0.5
        return frames.reshape(mel_btc.shape[0], -1)


def write_vocos(out_dir, seed):
    """utils/vocos_util.load_vocos_jit only calls the scripted module on a
    (B, T, 80) mel, so any TorchScript module with that signature will do.
    TorchScript embeds this script's path and line numbers as debug info, so
    the file's bytes (not its tensors) change when this script moves or is edited."""
    seeded(seed, 5)
    os.makedirs(out_dir, exist_ok=True)
    torch.jit.save(torch.jit.script(_TinyVocos().eval()), os.path.join(out_dir, "generator_jit.ckpt"))


# --- Speaker embedding (CAM++ stand-in) ---------------------------------------------

class _TinyCampplus(torch.nn.Module):
    """fbank (B, T, 80) -> speaker embedding (B, 192): mean over time, then MLP."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(80, 64), torch.nn.Tanh(),
                                       torch.nn.Linear(64, SPK_EMB_DIM))

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        return self.net(fbank.mean(dim=1))


def write_campplus(path, seed):
    """Exported with torch.onnx.export.  torch 2.3's exporter imports the `onnx`
    package only to splice in onnx-script functions, which this model has none
    of; when `onnx` is not installed that step is skipped rather than adding a
    dependency."""
    import torch.onnx.utils as onnx_utils

    seeded(seed, 6)
    model = _TinyCampplus().eval()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        import onnx  # noqa: F401
        patched = None
    except ImportError:
        patched = onnx_utils.onnx_proto_utils._add_onnxscript_fn
        onnx_utils.onnx_proto_utils._add_onnxscript_fn = lambda model_bytes, custom_opsets: model_bytes
    try:
        torch.onnx.export(
            model, (torch.zeros(1, 100, 80),), path,
            input_names=["input"], output_names=["embedding"],
            dynamic_axes={"input": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
            opset_version=17,
        )
    finally:
        if patched is not None:
            onnx_utils.onnx_proto_utils._add_onnxscript_fn = patched


# --- Main ---------------------------------------------------------------------------------

def _size_mb(path):
    if os.path.isfile(path):
        return os.path.getsize(path) / 2**20
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="GLM-TTS checkout (read only)")
    parser.add_argument("--out", required=True, help="output folder (gets ckpt/ and frontend/)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.time()
    repo = os.path.abspath(args.repo)
    sys.path.insert(0, repo)  # GLM-TTS's own model classes
    ckpt = os.path.join(args.out, "ckpt")

    # Import the heavy modules up front so each part's time is its own.
    t = time.time()
    import transformers  # noqa: F401
    from transformers import LlamaForCausalLM  # noqa: F401
    import flow.dit  # noqa: F401
    import utils.hift_util  # noqa: F401
    import utils.whisper_models.modeling_whisper  # noqa: F401
    print(f"{'imports':18s} {'':11s} {time.time() - t:6.2f} s")

    parts = {}

    def part(name, path, fn, *fn_args):
        t = time.time()
        result = fn(*fn_args)
        parts[name] = (path, time.time() - t)
        return result

    tok_dir = os.path.join(ckpt, "vq32k-phoneme-tokenizer")
    ids, vocab_size = part("text tokenizer", tok_dir, write_text_tokenizer, repo, tok_dir)
    part("llm", os.path.join(ckpt, "llm"), write_llm, os.path.join(ckpt, "llm"), vocab_size, ids, args.seed)
    part("speech tokenizer", os.path.join(ckpt, "speech_tokenizer"), write_speech_tokenizer,
         os.path.join(ckpt, "speech_tokenizer"), args.seed)
    part("flow", os.path.join(ckpt, "flow"), write_flow, os.path.join(ckpt, "flow"), args.seed)
    part("hift (24 kHz)", os.path.join(ckpt, "hift"), write_hift, os.path.join(ckpt, "hift"), args.seed)
    part("vocos (32 kHz)", os.path.join(ckpt, "vocos2d"), write_vocos,
         os.path.join(ckpt, "vocos2d"), args.seed)
    campplus = os.path.join(args.out, "frontend", "campplus.onnx")
    part("campplus", campplus, write_campplus, campplus, args.seed)

    for name, (path, secs) in parts.items():
        print(f"{name:18s} {_size_mb(path):8.2f} MB  {secs:6.2f} s  {os.path.relpath(path, args.out)}")
    print(f"{'total':18s} {_size_mb(args.out):8.2f} MB  {time.time() - start:6.2f} s  (vocab {vocab_size})")


if __name__ == "__main__":
    main()
