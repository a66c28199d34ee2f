"""The complexity classifier: a logistic model over simple text features, trained locally.

Assumptions:
- "Complex" means an open task (write, explain at length, compare, design, code) that a
  bigger tier answers better; "simple" means a short factual question or a one-line chore.
- Features are cheap to compute on the request path: hashed word unigrams and bigrams
  (crc32, stable across processes) plus a few shape figures (length, lines, sentences, code).
  Scoring is a sparse dot product: tens of microseconds for a paragraph.
- The model is trained from a small labelled file shipped beside this module
  (complexity.tsv: `simple|complex <TAB> prompt`) and can be retrained from any such file
  (`airlock routes train`); the weights are a small JSON file.
"""
from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHIPPED_DATA = Path(__file__).with_name("complexity.tsv")
BUCKETS = 1024
LABELS = {"simple": 0, "complex": 1}
_WORD = re.compile(r"[a-z0-9']+")
_CODE = re.compile(r"[{};=<>]|def |class |```")
DENSE = ("log_chars", "log_words", "lines", "sentences", "code")


class TrainingDataError(ValueError):
    """The labelled file is malformed; the message names the line."""


def features(text: str) -> tuple[list[int], list[float]]:
    """(hashed sparse indices, dense shape figures) of one prompt."""
    words = _WORD.findall(text.lower())
    grams = words + [a + " " + b for a, b in zip(words, words[1:])]
    indices = sorted({zlib.crc32(g.encode()) % BUCKETS for g in grams})
    dense = [math.log1p(len(text)) / 8, math.log1p(len(words)) / 6, min(text.count("\n"), 20) / 10,
             min(len(re.findall(r"[.!?](\s|$)", text)), 20) / 10, 1.0 if _CODE.search(text) else 0.0]
    return indices, dense


@dataclass(slots=True)
class ComplexityClassifier:
    weights: list[float]            # BUCKETS sparse weights, then one per DENSE figure
    bias: float
    trained_on: str = ""
    accuracy: float | None = None   # on the training file

    def score(self, text: str) -> float:
        """Probability that `text` is a complex task."""
        indices, dense = features(text)
        z = self.bias + sum(self.weights[i] for i in indices)
        z += sum(w * x for w, x in zip(self.weights[BUCKETS:], dense))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"weights": [round(w, 6) for w in self.weights], "bias": self.bias,
                                   "trained_on": self.trained_on, "accuracy": self.accuracy}))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ComplexityClassifier:
        data = json.loads(path.read_text())
        if len(data["weights"]) != BUCKETS + len(DENSE):
            raise ValueError(f"{path}: expected {BUCKETS + len(DENSE)} weights, got {len(data['weights'])}")
        return cls(data["weights"], float(data["bias"]), data.get("trained_on", ""), data.get("accuracy"))


def read_labelled(path: Path) -> list[tuple[str, int]]:
    """`label<TAB>prompt` lines; blank lines and lines starting with # are skipped."""
    examples = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, sep, text = line.partition("\t")
        if not sep or label not in LABELS or not text.strip():
            raise TrainingDataError(f"{path}:{number}: expected 'simple' or 'complex', a tab, then the prompt")
        examples.append((text.replace("\\n", "\n"), LABELS[label]))
    if len({y for _, y in examples}) < 2:
        raise TrainingDataError(f"{path}: needs examples of both labels (simple and complex)")
    return examples


def train(examples: list[tuple[str, int]], *, epochs: int = 400, rate: float = 0.5, l2: float = 1e-3,
          source: str = "") -> ComplexityClassifier:
    """Full-batch gradient descent on the logistic loss with an L2 penalty."""
    x = np.zeros((len(examples), BUCKETS + len(DENSE)), dtype=np.float64)
    for row, (text, _) in enumerate(examples):
        indices, dense = features(text)
        x[row, indices] = 1.0
        x[row, BUCKETS:] = dense
    y = np.array([label for _, label in examples], dtype=np.float64)
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        w -= rate * (x.T @ (p - y) / len(y) + l2 * w)
        b -= rate * float(np.mean(p - y))
    accuracy = float(np.mean(((x @ w + b) > 0) == (y > 0.5)))
    return ComplexityClassifier([float(v) for v in w], float(b), source, accuracy)


def train_file(path: Path = SHIPPED_DATA) -> ComplexityClassifier:
    return train(read_labelled(path), source=str(path))
