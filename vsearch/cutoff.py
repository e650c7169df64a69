"""The relevance cut-off of one query: each result's relevance (its best clip's, see vsearch.relevance), and
which results pass `min_relevance`, judged in rank order as the search makes them.

Results below the cut-off are dropped; the rest keep their rank order. A search with a cut-off stops after
PATIENCE results in a row fail it (the query's matches have run out), so a query with no good match costs
PATIENCE judgements, not a walk of the whole library. Which results pass depends only on the ranked list,
never on the page asked for: pages never repeat or skip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vsearch.rerank import cosine_scores
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.duplicates.fold import Folder
    from vsearch.retrieve import QueryScorer

PATIENCE = 50  # results in a row below the cut-off after which a search stops looking


class Cutoff:
    """Judges results (anything with `clip_id` and `score`, or (score, clip id) pairs) for one query."""

    def __init__(self, session, bank, query: QueryScorer, text: str, minimum: float, folder: Folder | None = None):
        """`bank`: the relevance bank (vsearch.relevance), or None for a query without relevance. `folder`
        (vsearch.duplicates.fold): results that pass and come from a copy of a video already kept fold into
        that result instead of being kept."""
        self.session, self.bank, self.query, self.text = session, bank, query, text
        self.folder = folder if folder is not None and folder.active else None
        self.minimum = float(minimum)
        self.kept: list = []  # passed, in rank order
        self.rejected: list = []  # failed, in rank order (the best of them answer "no good match")
        self.pending: list = []
        self.failures = 0  # in a row
        self.done = False  # PATIENCE failures in a row: look no further
        self.values: dict[int, float] = {}  # clip id -> relevance

    @property
    def active(self) -> bool:
        return self.minimum > 0

    def offer(self, unit) -> None:
        self.pending.append(unit)

    def flush(self) -> None:
        """Judge the offered results in order."""
        pending, self.pending = self.pending, []
        if not self.active:
            self.kept += self._unfolded(pending)
            return
        self.compute(pending)
        passed = []
        for unit in pending:
            if self.done:
                break
            if self.values[_clip(unit)] >= self.minimum:
                passed.append(unit)
                self.failures = 0
            else:
                self.rejected.append(unit)
                self.failures += 1
                self.done = self.failures >= PATIENCE
        self.kept += self._unfolded(passed)

    def passing(self, units: list) -> list:
        """Those of `units` that pass, unfolded (outside the ranked stream: they do not count towards PATIENCE)."""
        if self.active:
            self.compute(units)
            units = [u for u in units if self.values[_clip(u)] >= self.minimum]
        return self._unfolded(list(units))

    def _unfolded(self, units: list) -> list:
        if self.folder is None:
            return units
        return [u for u, folded in zip(units, self.folder.folds(units)) if not folded]

    def of(self, unit) -> float | None:
        return self.values.get(_clip(unit))  # None: not measured (an example query has no relevance)

    def compute(self, units: list) -> None:
        """The relevance of the units' best clips, for those not known yet, in one batch."""
        if self.bank is None:  # an example query: no relevance
            return
        wanted = [(_clip(u), _score(u)) for u in units]
        fresh = list({i: s for i, s in wanted if i not in self.values}.items())
        if not fresh:
            return
        ids = [i for i, _ in fresh]
        vectors = repo.clip_vectors(self.session, ids)
        ids = [i for i in ids if i in vectors]
        scores = np.array([s for i, s in fresh if i in vectors], np.float32)
        features = self._features(ids)
        if features is None:  # the bank is scored by cosine too, on X-CLIP's logit scale
            scores = cosine_scores(self.query.text_projection, ids, vectors) * float(
                self.query.model.scorer.logit_scale)
        bank = self.bank.scores(ids, vectors, features)
        for clip_id, value in zip(ids, self.bank.relevance(self.text, scores, bank)):
            self.values[clip_id] = round(float(value), 6)
        for clip_id, _ in fresh:
            self.values.setdefault(clip_id, 0.0)  # deleted since it was ranked

    def _features(self, ids: list[int]) -> np.ndarray | None:
        from vsearch.retrieve import EXACT

        store = self.query.library.features()
        if self.query.ranking != EXACT or store is None or not ids:
            return None
        features, present = store.read(ids)
        return features if present.all() else None


def _clip(unit) -> int:
    return unit[1] if isinstance(unit, tuple) else unit.clip_id


def _score(unit) -> float:
    return unit[0] if isinstance(unit, tuple) else unit.score
