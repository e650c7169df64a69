"""The training recipe's functions: the loss by hand, the schedule, the crops, which videos each text is ranked
against."""

import pytest

from vsearch.training.recipe import (
    contrastive_loss,
    frame_order_loss,
    learning_rate_factor,
    look_alike_batches,
    random_crops,
    step_masks,
)


def test_the_contrastive_loss_by_hand():
    """Two texts; videos 0 and 1 show text 0, video 2 text 1, video 3 is a negative for text 1 only."""
    import math

    import torch

    logits = torch.tensor([[2.0, 0.0], [1.0, 0.5], [0.0, 3.0], [5.0, 1.0]])
    positive = torch.tensor([[True, False], [True, False], [False, True], [False, False]])
    allowed = torch.tensor([[True, True], [True, True], [True, True], [False, True]])
    lse = lambda *xs: math.log(sum(math.exp(x) for x in xs))  # noqa: E731
    text0 = lse(2, 1, 0) - lse(2, 1)  # video 3 is not ranked for text 0
    text1 = lse(0, 0.5, 3, 1) - 3
    videos = [lse(2, 0) - 2, lse(1, 0.5) - 1, lse(0, 3) - 3]
    expected = ((text0 + text1) / 2 + sum(videos) / 3) / 2
    assert float(contrastive_loss(torch, logits, positive, allowed)) == pytest.approx(expected, rel=1e-6)


def test_the_learning_rate_warms_up_then_decays_to_zero():
    rates = [learning_rate_factor(step, 100, 0.1) for step in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:])) and rates[-1] < 0.01


def test_random_crops_keep_the_shape_and_use_one_window_per_clip():
    import torch

    frame = torch.rand(1, 1, 3, 16, 16)
    clips = frame.expand(4, 8, 3, 16, 16).clone()  # every frame of every clip the same picture
    out = random_crops(torch, clips, 0.6, torch.Generator().manual_seed(0))
    assert out.shape == clips.shape
    assert torch.equal(out[:, :1].expand_as(out), out)  # one window for all frames of a clip
    assert not torch.equal(out[0], out[1])  # another window for another clip
    assert torch.equal(random_crops(torch, clips, 1.0, torch.Generator()), clips)


def test_step_masks_rank_each_extra_video_against_the_right_texts():
    """Clips 0, 1 show text 0, clip 2 text 1; then the three reversed, two offset windows (of clips 0 and 1)
    and one background."""
    import torch

    positive, allowed = step_masks(torch, torch.tensor([0, 0, 1]), 2, True, 2, 1)
    assert positive.shape == allowed.shape == (9, 2)
    assert positive.nonzero().tolist() == [[0, 0], [1, 0], [2, 1]]
    assert allowed[:3].all()  # each clip is ranked against every text
    assert allowed[3:6].tolist() == [[True, False], [True, False], [False, True]]  # reversed: own text only
    assert allowed[6:8].tolist() == [[False, True], [False, True]]  # offset: every text but its own
    assert allowed[8].all()  # background: every text
    positive, allowed = step_masks(torch, torch.tensor([1, 0]), 2, False, 0, 0)
    assert positive.tolist() == [[False, True], [True, False]] and allowed.all()


def test_look_alike_batches_put_queries_worded_alike_together_and_use_every_clip_once():
    import random
    from types import SimpleNamespace

    queries = [f"a {colour} square {motion}" for colour in ("red", "blue", "green", "yellow")
               for motion in ("moving left", "moving right", "growing", "shrinking")]
    clips = [SimpleNamespace(moment=SimpleNamespace(query=q), n=n) for q in queries for n in range(6)]
    out = look_alike_batches(clips, 16, random.Random(0))
    used = [id(c) for batch in out for c in batch]
    assert len(used) == len(set(used)) and len(used) >= len(clips) - 16  # once each; a lone-query tail may drop
    assert all(len(batch) <= 16 and len({c.moment.query for c in batch}) > 1 for batch in out)
    # a batch's queries share more words than random ones do: each batch holds a query and its near-namesakes
    def overlap(batch):
        words = [set(q.split()) for q in {c.moment.query for c in batch}]
        return sum(len(a & b) / len(a | b) for a in words for b in words if a is not b) / (len(words) * (len(words) - 1))
    shuffled = clips[:]
    random.Random(1).shuffle(shuffled)
    rand = [shuffled[i : i + 16] for i in range(0, len(shuffled), 16)]
    assert sum(map(overlap, out)) / len(out) > sum(map(overlap, rand)) / len(rand)


def test_frame_order_loss_is_lowest_when_frames_lie_in_time_order_and_constant_for_a_still_clip():
    import math

    import torch

    count = 6
    angles = torch.linspace(0, 1.2, count)  # frames along an arc: neighbours in time are nearest
    ordered = torch.stack([torch.cos(angles), torch.sin(angles), torch.zeros(count)], dim=1)[None]
    shuffled = ordered[:, torch.tensor([3, 0, 5, 1, 4, 2])]
    assert float(frame_order_loss(torch, ordered)) < float(frame_order_loss(torch, shuffled))
    still = torch.ones(2, count, 3)
    # every other frame alike: the loss is log(others / neighbours), averaged over the frames
    expected = sum(math.log((count - 1) / (1 if t in (0, count - 1) else 2)) for t in range(count)) / count
    assert float(frame_order_loss(torch, still)) == pytest.approx(expected, rel=1e-5)
    moving = ordered.clone().requires_grad_(True)
    frame_order_loss(torch, moving).backward()
    assert moving.grad is not None and float(moving.grad.abs().sum()) > 0
