"""The measures, on rankings whose answers are worked out by hand."""

import pytest

from vsearch.evaluation.metrics import Span, judge, summarize, temporal_iou


def test_overlap_and_iou():
    a = Span("v", 0.0, 4.0)
    assert temporal_iou(a, Span("v", 2.0, 6.0)) == pytest.approx(2 / 6)
    assert temporal_iou(a, Span("w", 0.0, 4.0)) == 0.0
    assert temporal_iou(a, Span("v", 4.0, 8.0)) == 0.0  # touching ends share no time


def test_summary_worked_by_hand():
    labelled = {"q1": [Span("a", 10, 14)], "q2": [Span("b", 0, 4), Span("c", 8, 12)], "q3": [Span("d", 0, 2)],
                "q4": [Span("a", 0, 4)]}
    ranked = {
        "q1": [Span("a", 10, 14), Span("a", 14, 18)],  # hit at 1, IoU 1
        "q2": [Span("a", 0, 4), Span("b", 4, 8), Span("c", 6, 10)],  # b 4-8 touches 0-4: no; c 6-10: hit at 3
        "q3": [Span("a", 0, 4)] * 12,  # no hit
        "q4": [Span("a", 1, 5)],  # hit at 1, IoU 3/5 = 0.6
    }
    outcomes = [judge(q, ranked[q], labelled[q]) for q in labelled]
    assert [o.first_hit for o in outcomes] == [1, 3, None, 1]
    assert [round(o.top_iou, 3) for o in outcomes] == [1.0, 0.0, 0.0, 0.6]
    summary = summarize(outcomes, k=12)
    assert summary["recall@1"] == 0.5 and summary["recall@5"] == 0.75 and summary["recall@10"] == 0.75
    assert summary["first_hit_median_rank"] == 1 and summary["first_hit_mean_rank"] == pytest.approx(5 / 3, abs=1e-3)
    assert summary["no_hit_in_top_k"] == 1
    assert summary["moment_recall@1_iou0.5"] == 0.5 and summary["moment_recall@1_iou0.7"] == 0.25
    assert summarize(outcomes, k=5)["recall@10"] is None  # cannot be told from 5 results


def test_a_result_counts_the_copies_folded_into_it():
    labelled = [Span("b", 2, 6)]
    # the result shows a 0-4 with b 1-5 folded into it (a copy): a hit at 1, IoU with b's span 3/5
    outcome = judge("q", [[Span("a", 0, 4), Span("b", 1, 5)], [Span("b", 2, 6)]], labelled)
    assert outcome.first_hit == 1 and outcome.top_iou == pytest.approx(0.6)
    assert judge("q", [Span("a", 0, 4), [Span("c", 0, 4)], [Span("a", 8, 9), Span("b", 5, 9)]],
                 labelled).first_hit == 3
