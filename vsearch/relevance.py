"""Relevance: a score in [0, 1] that means the same for every query, and the cut-off built on it.

A raw X-CLIP logit does not: its level shifts from query to query (a long, specific query scores lower on
its best match than a short one does on a poor one). Relevance uses query-bank normalisation (Bogolin et
al., "Cross Modal Retrieval with Querybank Normalisation", CVPR 2022): a clip is scored, with X-CLIP's own
exact score, for the query and for every prompt of a fixed bank of other descriptions, and its relevance is
the query's share of the softmax over all of them:

    relevance(clip) = exp(s_query) / (exp(s_query) + sum over the bank of exp(s_prompt))

0.5 means the query describes the clip about as well as the bank's best other description; near 1, much
better than any; near 0, some other description fits it far better, so the clip is the best the library
has for the query, not a match. The bank: everyday descriptions of video moments (EVERYDAY_PROMPTS), the
queries a fine-tuned checkpoint learnt (BANK_FILE beside its weights, written by `vsearch finetune`) and a
file of the user's own (VSEARCH_RELEVANCE_PROMPTS). A bank prompt with the query's own words is left out
for that query: it would split the query's share with itself.

A bank can only say which of its descriptions fits best, not whether any fits: a clip that shows none of
them (a still shot in a library of motions) gives the least bad one a high share. A checkpoint that knows
its match level (CALIBRATION_FILE beside its weights, written by `vsearch finetune` from its training
clips, or VSEARCH_RELEVANCE_MATCH_LEVEL) adds one more competitor, "no description", at that fixed logit:

    relevance(clip) = exp(s_query) / (exp(s_query) + sum over the bank of exp(s_prompt) + exp(match_level))

so a clip must also score like a match to be relevant: at the match level itself, relevance is at most 0.5.

Cost: the bank's text embeddings once per process, then |bank| exact scores per clip judged (the prompt
generator per prompt; about as costly as the exact rerank of |bank| candidates), cached per clip: a
clip's bank scores do not depend on the query.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import VsearchError

if TYPE_CHECKING:
    from vsearch.config import Settings

# a checkpoint folder's own bank prompts: the queries it was fine-tuned on, one a line
BANK_FILE = "relevance_prompts.txt"
# a checkpoint folder's match level and how it was measured (vsearch.training.calibrate)
CALIBRATION_FILE = "relevance_calibration.json"
# the cut-off a query uses unless it, the settings or the checkpoint's calibration name one: with a match
# level relevance falls for clips that score below it, so the cut can sit higher (both from
# bench/temporal_relevance.py; see README, Relevance)
DEFAULT_MIN_RELEVANCE = 0.2
CALIBRATED_MIN_RELEVANCE = 0.995
CACHED_CLIPS = 50_000  # clips whose bank scores are kept (|bank| floats each)

# Everyday descriptions of video moments: the bank's default prompts, and the text queries an approximate
# index is tuned with (vsearch.index.tuning).
EVERYDAY_PROMPTS = [
    "a person walking", "people talking", "a dog running", "a cat sleeping", "a car driving on a road",
    "cars at night", "a city street", "a crowd of people", "children playing", "a birthday party",
    "someone cooking in a kitchen", "eating spaghetti", "a man playing guitar", "a woman dancing",
    "a football match", "a basketball game", "swimming in a pool", "waves on a beach", "snow falling",
    "a mountain landscape", "a forest", "a sunset", "fireworks", "rain on a window", "a bird flying",
    "a horse", "riding a bicycle", "a train", "an airplane taking off", "a boat on the water",
    "a computer screen", "typing on a keyboard", "a presentation on stage", "a classroom", "an office",
    "a cartoon", "a title card", "a close-up of a face", "hands holding a phone", "a baby laughing",
    "a wedding", "a concert", "a street market", "a construction site", "a garden with flowers",
    "a drone shot of a city", "a skateboarder", "an empty room",
]


def words(text: str) -> str:
    """A text's words, lower case, without punctuation or articles: how "same words" is judged."""
    return " ".join(w for w in re.findall(r"[\w']+", text.lower()) if w not in ("a", "an", "the"))


def read_prompts(path: Path) -> list[str]:
    """Prompts of a bank file: one a line; blank lines and lines starting with # are skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def bank_prompts(settings: Settings) -> list[str]:
    """The bank: everyday prompts, the checkpoint's own (if it is a folder holding BANK_FILE), the user's."""
    prompts = list(EVERYDAY_PROMPTS) if settings.relevance_everyday else []
    own = Path(settings.model).expanduser() / BANK_FILE
    if own.is_file():
        prompts += read_prompts(own)
    if settings.relevance_prompts is not None:
        prompts += read_prompts(settings.relevance_prompts)
    if not prompts:
        raise VsearchError("the relevance bank is empty: with VSEARCH_RELEVANCE_EVERYDAY=false, give prompts in "
                          "VSEARCH_RELEVANCE_PROMPTS (a file, one description a line) or use a fine-tuned checkpoint")
    seen, unique = set(), []
    for prompt in prompts:  # one prompt per wording
        if words(prompt) not in seen:
            seen.add(words(prompt))
            unique.append(prompt)
    return unique


def match_level(settings: Settings) -> float | None:
    """The logit of the "no description" competitor: the setting, else the checkpoint's calibration (if it is
    a folder holding CALIBRATION_FILE), else None (no such competitor)."""
    if settings.relevance_match_level is not None:
        return float(settings.relevance_match_level)
    calibration = read_calibration(Path(settings.model).expanduser())
    return None if calibration is None else calibration["match_level"]


def read_calibration(checkpoint: Path) -> dict | None:
    """A checkpoint folder's CALIBRATION_FILE (its "match_level" a float), or None where it has none."""
    path = Path(checkpoint) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        calibration = json.loads(path.read_text(encoding="utf-8"))
        return {**calibration, "match_level": float(calibration["match_level"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VsearchError(f"{path} is not a relevance calibration ({exc}): delete it, or set "
                           "VSEARCH_RELEVANCE_MATCH_LEVEL") from exc


def default_min_relevance(settings: Settings) -> float:
    """The cut-off of a query that names none: the setting, else the checkpoint's calibrated one (its
    CALIBRATION_FILE's "min_relevance"), else CALIBRATED_MIN_RELEVANCE for a match level without one, else
    DEFAULT_MIN_RELEVANCE."""
    if settings.min_relevance is not None:
        return float(settings.min_relevance)
    if settings.relevance_match_level is None:
        calibration = read_calibration(Path(settings.model).expanduser())
        if calibration is not None and calibration.get("min_relevance") is not None:
            return float(calibration["min_relevance"])
    return CALIBRATED_MIN_RELEVANCE if match_level(settings) is not None else DEFAULT_MIN_RELEVANCE


class RelevanceBank:
    """The bank's prompts, their text embeddings, and each judged clip's scores for them (cached)."""

    def __init__(self, prompts: list[str], model, level: float | None = None):
        """`level`: the match level, the logit of a "no description" competitor (None: none)."""
        if not prompts:
            raise ValueError("a relevance bank needs at least one prompt")
        self.prompts = prompts
        self.level = level
        self.keys = [words(p) for p in prompts]
        self.model = model
        self.projections = model.text_projections(prompts)  # (B, D), raw: the prompt generator's input
        self._cache: OrderedDict[tuple[int, bool], np.ndarray] = OrderedDict()

    def scores(self, ids: list[int], vectors: dict[int, np.ndarray], features: np.ndarray | None) -> np.ndarray:
        """(N, B) logits of clips `ids` for every prompt: exact (X-CLIP's score, from `features`, the clips'
        prompt features in order) or, when `features` is None, the scaled embedding cosine."""
        exact = features is not None
        missing = [n for n, i in enumerate(ids) if (i, exact) not in self._cache]
        if missing:
            videos = np.stack([vectors[ids[n]] for n in missing]).astype(np.float32)
            scorer = self.model.scorer
            if exact:
                fresh = scorer.many(self.projections, videos, features[missing])
            else:
                texts = self.projections / np.linalg.norm(self.projections, axis=1, keepdims=True)
                fresh = float(scorer.logit_scale) * (videos @ texts.T)
            for row, n in zip(fresh, missing):
                self._cache[(ids[n], exact)] = row.astype(np.float32)
            while len(self._cache) > CACHED_CLIPS:
                self._cache.popitem(last=False)
        return np.stack([self._cache[(i, exact)] for i in ids]) if ids else np.zeros((0, len(self.prompts)))

    def relevance(self, query: str, query_logits: np.ndarray, bank_logits: np.ndarray) -> np.ndarray:
        """Each clip's relevance: the query's softmax share among itself, the bank (less the query's words) and,
        with a match level, "no description"."""
        keep = np.array([key != words(query) for key in self.keys])
        query_logits = np.asarray(query_logits, np.float64)
        parts = [query_logits[:, None], np.asarray(bank_logits, np.float64)[:, keep]]
        if self.level is not None:
            parts.append(np.full((len(query_logits), 1), self.level))
        logits = np.concatenate(parts, axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        shares = np.exp(logits)
        return (shares[:, 0] / shares.sum(axis=1)).astype(np.float32)
