"""Test double of GLM-TTS's cosyvoice/cli/frontend.py: the text front end (normalisation,
splitting into chunks, the replace dictionary of the phoneme pass) and the voice front end
(prompt features), with the real classes, methods and signatures.

text_normalize does in outline what GLM-TTS's does (WeTextProcessing, then its own rules):
  - full-width characters become half-width (`，` → `,`, `１` → `1`, the ideographic space), and
    a hyphen between letters a space;
  - text with Chinese characters: numbers are read in Chinese (`12` → `十二`, `3.5` → `三点五`;
    a number with a leading 0 or over 8 digits digit by digit), `, : ; 、` become `，`,
    `. … !` become `。`, quotes and brackets go, Latin letters are lower-cased;
  - other text: numbers are spelt out in English (`42` → `forty two`, `3.5` → `three point
    five`), every character but letters, digits, spaces and `. , ! ? ' : ;` goes, it is
    lower-cased, with one space after punctuation;
  - then a repeated punctuation mark is kept once, `!` becomes `.`, and the text ends with
    `。` (Chinese) or `.` unless it ends with `?`.
It does not: read dates, times, money, units, ordinals, percentages or phone numbers the way
WeTextProcessing does, expand markdown or emoji, map Greek letters and maths symbols, apply
configs/custom_replace.jsonl, or put a space after an apostrophe as GLM-TTS does ("you' re").

split_by_len splits as GLM-TTS's does in outline: sentences (ending in punctuation) are joined
until a chunk is at least 30 "characters" long, where a Chinese character or a mark counts 1
and an English word 0.7 per syllable; a chunk over 60 is cut after 60 units (61 if the 61st is
punctuation). GLM-TTS then indexes past the end of a chunk of fewer than 60 units that weighs
more than 60 (a long English run of long words without punctuation): IndexError, in the double
too, so that the host's guard against it is tested.
"""

import re
import wave

import torch
from utils.double import record

PUNCTUATION_CHARS = "。？！；：、.?!;:，,"
_PUNCTUATION = set(PUNCTUATION_CHARS)
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_CHINESE = re.compile(r"[\u3400-\u9fff]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNIT = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*|\s+|.", re.S)  # an English word, spaces, or one character
_ZH_DIGITS = "零一二三四五六七八九"
_EN_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
            "sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _zh_below_10000(n):
    out, gap = "", False
    for unit, value in (("千", 1000), ("百", 100), ("十", 10), ("", 1)):
        digit = n // value % 10
        if digit:
            out += ("零" if gap and out else "") + _ZH_DIGITS[digit] + unit
            gap = False
        else:
            gap = True
    return out


def _zh_number(digits):
    n = int(digits)
    if (digits.startswith("0") and len(digits) > 1) or n >= 10**8:
        return "".join(_ZH_DIGITS[int(d)] for d in digits)
    if n == 0:
        return "零"
    high, low = divmod(n, 10000)
    out = (_zh_below_10000(high) + "万" + ("零" if 0 < low < 1000 else "") if high else "") + _zh_below_10000(low)
    return out[1:] if out.startswith("一十") else out  # 十五, not 一十五


def _en_number(digits):
    n = int(digits)
    if (digits.startswith("0") and len(digits) > 1) or n >= 10**12:
        return " ".join(_EN_ONES[int(d)] for d in digits)
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        return _EN_TENS[n // 10] + ("" if n % 10 == 0 else " " + _EN_ONES[n % 10])
    for value, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= value:
            high, low = divmod(n, value)
            return f"{_en_number(str(high))} {name}" + (f" {_en_number(str(low))}" if low else "")
    raise AssertionError(n)


def _read_numbers(text, read, point, space):
    """Whole numbers with `read`; decimals as the whole part, `point`, then digit by digit."""

    def one(match):
        whole, _, fraction = match.group().partition(".")
        return space.join([read(whole)] + ([point] + [read(d) for d in fraction] if fraction else []))

    return _NUMBER.sub(one, re.sub(r"(?<=\d),(?=\d{3})", "", text))  # 1,000 is one number


def _units(text):
    units = []
    for unit in _UNIT.findall(text):
        if unit.isspace():
            if units:
                units[-1] += unit  # spaces belong to the unit before them
        else:
            units.append(unit)
    return units


def _weight(unit):
    word = unit.strip()
    if word.isascii() and word.isalpha():
        return 0.7 * max(1, len(re.findall(r"[aeiouy]+", word.lower())))
    return 1.0


class TextFrontEnd:
    def __init__(self, use_phoneme=False):
        self.PUNCTUATION_CHARS = PUNCTUATION_CHARS
        self.use_phoneme = use_phoneme
        if use_phoneme:
            # GLM-TTS loads configs/G2P_replace_dict.jsonl here, which ships this entry (and more).
            self.replace_dict = {"弦": "<|X|><|IAN2|>"}

    def text_normalize(self, text):
        """See the module's docstring for what it does and does not do."""
        record("text_normalize", text=text)
        if text is None:
            return None
        text = re.sub(r"(?<=[A-Za-z])-(?=[A-Za-z])", " ", text.translate(_HALF_WIDTH))
        if _CHINESE.search(text):
            text = _read_numbers(text, _zh_number, "点", "")
            text = re.sub(r"[,:;、]+", "，", text)
            text = re.sub(r"[.…!]+", "。", text)
            text = re.sub(r"""['"‘’“”|()\[\]{}（）【】「」《》『』]+""", "", text).lower()
        else:
            text = _read_numbers(text, _en_number, "point", " ")
            text = re.sub(r"[^\w\s.,!?':;]", "", text).lower()
            text = re.sub(r"\s*([.,!?:;])\s*", r"\1 ", re.sub(r"\s+", " ", text))
        text = text.strip()
        text = re.sub(f"([{PUNCTUATION_CHARS}])[{PUNCTUATION_CHARS}]+", r"\1", text)  # the first of a run
        text = text.replace("！", "。").replace("!", ".")
        if text.endswith(("?", "？")):
            return text
        end = "。" if _CHINESE.search(text) else "."
        return (text[:-1] if text and text[-1] in _PUNCTUATION else text) + end

    def split_by_len(self, text, min_text_len=30, max_text_len=60):
        """See the module's docstring."""
        sentences, current = [], []
        for unit in _units(text):
            current.append(unit)
            if unit.strip() in _PUNCTUATION and sum(map(_weight, current)) >= min_text_len:
                sentences.append(current)
                current = []
        if current:
            sentences.append(current)
        chunks = []
        for units in sentences:
            while sum(map(_weight, units)) > max_text_len:
                # As GLM-TTS's split_hard: IndexError when the run weighs more than max_text_len
                # in fewer units (long English words without punctuation). The host guards it.
                cut = max_text_len + (units[max_text_len].strip() in _PUNCTUATION)
                chunks.append(units[:cut])
                units = units[cut:]
            if units:
                chunks.append(units)
        return ["".join(units) for units in chunks]

    def g2p_infer(self, text):
        """The replace dictionary, longest key first, then the rest as it is: the double has no
        G2P model (GLM-TTS keeps the characters listed in configs/G2P_able_1word.json too)."""
        result = "".join(self._tokenize_by_replace_dict(text))
        record("g2p_infer", text=text, result=result, replace_dict=dict(self.replace_dict))
        return result

    def _tokenize_by_replace_dict(self, text):
        keys = sorted(self.replace_dict, key=len, reverse=True)
        out, i = [], 0
        while i < len(text):
            key = next((k for k in keys if text.startswith(k, i)), None)
            out.append(self.replace_dict[key] if key else text[i])
            i += len(key) if key else 1
        return out


class TTSFrontEnd:
    def __init__(self, tokenize_fn=None, speech_tokenizer=None, feat_extractor=None, campplus_model=None, spk2info="",
                 device=None):
        self.device = device
        self.tokenize_fn = tokenize_fn or (lambda text: [ord(c) for c in text])

    def _extract_text_token(self, text):
        return torch.tensor([self.tokenize_fn(text)], dtype=torch.int32)

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
