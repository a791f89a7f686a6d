"""Forced readings for GLM-TTS: pinyin syllables to its phoneme tokens.

GLM-TTS spells a Mandarin syllable as an initial token and a toned final token, e.g. 重 read
chong2 is `<|CH|><|ONG2|>`, 弦 xian2 is `<|X|><|IAN2|>`. Its finals are pypinyin's "strict"
ones: y/w are not initials (you3 → IOU3, wei4 → UEI4), ü is V (lü4 → L V4, xue2 → X VE2),
contracted finals are spelled out (gui4 → G UEI4, liu2 → L IOU2, lun2 → L UEN2), and the
apical vowels are III after zh ch sh r and II after z c s. Every token produced is checked
against the inventory the loaded model ships (configs/G2P_all_phonemes.json).
"""

from __future__ import annotations

import json
import os
import re

INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s")
_SYLLABLE = re.compile(r"([a-z]+)([1-5])")


class PronunciationError(ValueError):
    """A reading GLM-TTS cannot express; the message says which syllable and why."""


def load_inventory(repo: str) -> frozenset[str]:
    """The phoneme names the model knows, from the GLM-TTS checkout."""
    with open(os.path.join(repo, "configs", "G2P_all_phonemes.json"), encoding="utf-8") as handle:
        table = json.load(handle)
    return frozenset(table.values() if isinstance(table, dict) else table)


def _strict_final(initial: str, final: str) -> str:
    if not initial:
        if final.startswith("y"):
            rest = final[1:]
            if rest.startswith("u"):
                return "v" + rest[1:]  # yu yue yuan yun
            return rest if rest.startswith("i") else "i" + rest  # yi yin ying | ya ye you yan yong
        if final.startswith("w"):
            rest = final[1:]
            final = rest if rest.startswith("u") else "u" + rest  # wu | wa wo wai wei wan wen
    elif initial in ("j", "q", "x") and final.startswith("u"):
        final = "v" + final[1:]  # ju que xuan jun: the u is ü
    final = {"iu": "iou", "ui": "uei", "un": "uen"}.get(final, final)
    if final == "i" and initial in ("zh", "ch", "sh", "r"):
        return "iii"
    if final == "i" and initial in ("z", "c", "s"):
        return "ii"
    return final


def syllable_tokens(syllable: str) -> list[str]:
    """`chong2` → ["CH", "ONG2"] (phoneme names, before the inventory check)."""
    match = _SYLLABLE.fullmatch(syllable)
    if match is None:
        raise PronunciationError(f'"{syllable}" is not a pinyin syllable with a tone number 1-5')
    body, tone = match.groups()
    initial = next((i for i in INITIALS if body.startswith(i) and len(body) > len(i)), "")
    final = _strict_final(initial, body[len(initial):])
    return ([initial.upper()] if initial else []) + [final.upper() + tone]


def reading_tokens(pinyin: str, inventory: frozenset[str]) -> str:
    """`chong2 qing4` → `<|CH|><|ONG2|><|Q|><|ING4|>`, or PronunciationError naming the
    syllable whose phoneme the model lacks."""
    out = []
    for syllable in pinyin.split():
        for name in syllable_tokens(syllable):
            if name not in inventory:
                raise PronunciationError(f'"{syllable}" needs the phoneme {name}, which GLM-TTS does not have')
            out.append(f"<|{name}|>")
    if not out:
        raise PronunciationError("a forced reading needs at least one pinyin syllable")
    return "".join(out)
