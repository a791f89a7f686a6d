"""WAV files with the standard library: 16-bit PCM out, and float32 or 16-bit PCM in."""

from __future__ import annotations

import struct
import sys
import wave
from array import array

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_IEEE_FLOAT = 3
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def write_pcm16(path: str, sample_rate: int, pcm: bytes) -> float:
    """Writes mono 16-bit little-endian samples; returns the duration in milliseconds."""
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return len(pcm) / 2 / sample_rate * 1000.0


def floats_to_pcm16(samples: "array[float]") -> bytes:
    """Clamps to [-1, 1] and scales to 16-bit, as GLM-TTS's own demo does (× 32767)."""
    pcm = array("h", (int(max(-1.0, min(1.0, s)) * 32767.0) for s in samples))
    if sys.byteorder != "little":
        pcm.byteswap()
    return pcm.tobytes()


def read_mono_floats(path: str) -> tuple[int, "array[float]"]:
    """Reads a float32 or 16-bit PCM WAV (first channel) as floats in [-1, 1]."""
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 12 or data[0:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path} is not a WAV file")
    fmt = None
    payload = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", body, 0)
            if fmt[0] == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                fmt = (struct.unpack_from("<H", body, 24)[0],) + fmt[1:]
        elif chunk_id == b"data":
            payload = body
        offset += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise ValueError(f"{path} has no fmt or data chunk")
    format_tag, channels, sample_rate, _, _, bits = fmt
    if format_tag == WAVE_FORMAT_IEEE_FLOAT and bits == 32:
        samples = array("f")
        samples.frombytes(payload[: len(payload) - len(payload) % 4])
        if sys.byteorder != "little":
            samples.byteswap()
        return sample_rate, array("f", samples[::channels])
    if format_tag == WAVE_FORMAT_PCM and bits == 16:
        ints = array("h")
        ints.frombytes(payload[: len(payload) - len(payload) % 2])
        if sys.byteorder != "little":
            ints.byteswap()
        return sample_rate, array("f", (s / 32768.0 for s in ints[::channels]))
    raise ValueError(f"{path}: unsupported WAV encoding (format {format_tag}, {bits} bits)")
