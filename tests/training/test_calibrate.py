"""The calibration's check for queries a fine-tuned model cannot tell apart (the match level itself is tested
with a real fine-tuning run in test_finetune.py)."""

import math

import numpy as np
import pytest

from vsearch.relevance import DEFAULT_MIN_RELEVANCE
from vsearch.training.calibrate import MAX_CUT_OFF, cut_off, merged_queries, relevance_logits


class Embeddings:
    """Stands in for a Trainer: the text embeddings it would give (unit rows)."""

    def __init__(self, rows: dict[str, list[float]]):
        self.rows = rows

    def text_embeddings(self, texts):
        embeds = np.array([self.rows[t] for t in texts], np.float32)
        return embeds / np.linalg.norm(embeds, axis=1, keepdims=True)


def test_queries_with_one_text_embedding_are_reported_as_merged():
    trainer = Embeddings({"blue down": [1, 0, 0], "blue right": [1, 0.01, 0], "red up": [0, 1, 0],
                          "red left": [0, 0.7, 0.7]})
    assert merged_queries(trainer, ["blue down", "blue right", "red left", "red up"]) == [["blue down", "blue right"]]
    assert merged_queries(trainer, ["red left", "red up"]) == []


def test_the_cut_off_is_the_relevance_of_nearly_all_training_matches():
    logits = np.linspace(-1.0, 8.9, 100)  # relevance logits of 100 training matches
    assert cut_off(logits) == pytest.approx(1 / (1 + math.exp(-np.percentile(logits, 5))), abs=1e-4)
    assert cut_off(np.full(50, -3.0)) == DEFAULT_MIN_RELEVANCE  # weak matches: the lenient cut-off
    assert cut_off(np.full(50, 30.0)) == MAX_CUT_OFF


def test_relevance_logits_are_what_the_search_computes():
    from vsearch.relevance import RelevanceBank

    scores = np.array([[30.0, 10.0, 12.0], [5.0, 20.0, 19.0]])
    mine = np.array([[True, False, False], [False, True, False]])
    matches, non_matches = relevance_logits([(scores, mine, True)], level=25.0)
    for row, own in ((0, 0), (1, 1)):
        others = [q for q in range(3) if q != own]
        bank = RelevanceBank.__new__(RelevanceBank)  # only its formula: no model needed
        bank.keys, bank.level = [f"q{q}" for q in others], 25.0
        share = bank.relevance(f"q{own}", scores[row, [own]], scores[row, others][None, :])[0]
        assert matches[row] == pytest.approx(math.log(share / (1 - share)), abs=1e-3)
    assert non_matches[1] == pytest.approx(19.0 - np.logaddexp.reduce([5.0, 20.0, 25.0]), abs=1e-6)
