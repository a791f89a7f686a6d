"""Test double: the few torch calls the GLM-TTS hosts and the GLM-TTS double make. Not torch."""

from __future__ import annotations

from array import array

from . import cuda  # noqa: F401  (torch.cuda.*)


class dtype:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


float32 = dtype("float32")
float16 = dtype("float16")
bfloat16 = dtype("bfloat16")
int16 = dtype("int16")
int32 = dtype("int32")
int64 = dtype("int64")


class device:
    def __init__(self, name: str):
        self.type = name.split(":")[0]
        self.name = name

    def __repr__(self) -> str:
        return f"device(type='{self.name}')"


def _shape(data) -> tuple:
    shape = []
    while isinstance(data, (list, tuple)):
        shape.append(len(data))
        data = data[0] if data else None
    return tuple(shape)


def _flatten(data) -> list:
    if isinstance(data, (list, tuple)):
        return [x for item in data for x in _flatten(item)]
    return [data]


class Tensor:
    """A flat list of numbers with a shape; enough for (1, N) audio and token rows."""

    def __init__(self, values: list, shape: tuple, kind: dtype = float32):
        self.values = values
        self.shape = shape
        self.dtype = kind

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def to(self, target) -> "Tensor":
        if isinstance(target, dtype):
            if target in (int16, int32, int64):
                return Tensor([int(v) for v in self.values], self.shape, target)
            return Tensor([float(v) for v in self.values], self.shape, target)
        return self  # a device: nothing moves

    def cpu(self) -> "Tensor":
        return self

    def detach(self) -> "Tensor":
        return self

    def squeeze(self, dim=None) -> "Tensor":
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            shape = tuple(s for i, s in enumerate(self.shape) if not (i == dim % max(1, len(self.shape)) and s == 1))
        return Tensor(self.values, shape, self.dtype)

    def reshape(self, *shape: int) -> "Tensor":
        if shape != (-1,):
            raise NotImplementedError("the double reshapes to one dimension only")
        return Tensor(self.values, (len(self.values),), self.dtype)

    def clamp(self, low: float, high: float) -> "Tensor":
        return Tensor([min(high, max(low, v)) for v in self.values], self.shape, self.dtype)

    def __mul__(self, factor: float) -> "Tensor":
        return Tensor([v * factor for v in self.values], self.shape, self.dtype)

    def __getitem__(self, index: int):
        """Row `index` along the first dimension (a number, for a 1-D tensor)."""
        if len(self.shape) <= 1:
            return self.values[index]
        width = len(self.values) // self.shape[0] if self.shape[0] else 0
        index = range(self.shape[0])[index]  # negative indices, and IndexError past the end
        return Tensor(self.values[index * width : (index + 1) * width], self.shape[1:], self.dtype)

    def tolist(self):
        if len(self.shape) <= 1:
            return list(self.values)
        width = self.shape[-1]
        count = len(self.values) // width if width else self.shape[-2]
        rows = [self.values[i * width : (i + 1) * width] for i in range(count)]
        return rows if len(self.shape) == 2 else [rows]

    def numpy(self) -> array:
        return array("h" if self.dtype is int16 else "f", self.values)


def tensor(data, dtype: dtype = float32) -> Tensor:
    return Tensor(_flatten(data), _shape(data), dtype)


def concat(tensors: list, dim: int = 1) -> Tensor:
    values = [v for t in tensors for v in t.values]
    return Tensor(values, (1, len(values)), tensors[0].dtype)


cat = concat


def manual_seed(seed: int) -> None:
    pass
