"""The pieces of the training recipe that are plain functions: the loss, the learning-rate schedule, the
crop augmentation. `finetune.Trainer` puts them together."""

from __future__ import annotations

import math
import random
from collections import defaultdict


def steps_per_epoch(clips: list, size: int) -> int:
    return math.ceil(len(clips) / size)


def learning_rate_factor(step: int, total: int, warmup: float) -> float:
    """Linear warmup over the first `warmup` share of `total` steps, then a cosine from 1 down to 0."""
    rise = max(1, int(round(warmup * total)))
    if step < rise:
        return (step + 1) / rise
    progress = (step - rise) / max(1, total - rise)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def offset_slots(plan, frames: int) -> tuple[int, int]:
    """The nearest and furthest frame slots an offset window moves off its moment: beyond the furthest a
    shifted positive goes (it must not be a positive's twin), at most `plan.offset_negatives` of the clip."""
    furthest = int(round(plan.offset_negatives * frames))
    return min(furthest, int(round(plan.shift * frames)) + 1), furthest


def random_crops(torch, pixels, smallest: float, generator):
    """Each clip of `pixels` (clips, frames, channels, h, w) cropped to a random square-ish window of at least
    `smallest` of each side, the same window on every frame (motion is kept), and resized back."""
    clips, frames, channels, height, width = pixels.shape
    out = torch.empty_like(pixels)
    sides = smallest + (1 - smallest) * torch.rand(clips, generator=generator)
    corners = torch.rand(clips, 2, generator=generator)
    for number in range(clips):
        h, w = max(1, int(round(height * float(sides[number])))), max(1, int(round(width * float(sides[number]))))
        top, left = int(corners[number, 0] * (height - h)), int(corners[number, 1] * (width - w))
        window = pixels[number, :, :, top : top + h, left : left + w]
        out[number] = torch.nn.functional.interpolate(window, size=(height, width), mode="bilinear",
                                                      align_corners=False)
    return out


def contrastive_loss(torch, logits, positive, allowed):
    """Symmetric InfoNCE with several positives. `logits` (videos, texts); `positive[v, t]`: video v shows
    text t; `allowed[v, t]`: video v is ranked for text t at all (its positive or a known negative). Every
    text has a positive; the rows of videos that have a text are the video-to-text half."""
    minus = torch.finfo(logits.dtype).min
    per_text = (torch.logsumexp(logits.masked_fill(~allowed, minus), dim=0)
                - torch.logsumexp(logits.masked_fill(~positive, minus), dim=0))
    owned = positive.any(dim=1)
    rows = logits[owned]
    per_video = torch.logsumexp(rows, dim=1) - torch.logsumexp(rows.masked_fill(~positive[owned], minus), dim=1)
    return (per_text.mean() + per_video.mean()) / 2


def frame_order_loss(torch, frames, temperature: float = 0.1):
    """Each frame of a clip should be nearer its neighbours in time than the clip's other frames: InfoNCE
    over one clip's frames, `frames` (clips, T, dim) being the per-frame embeddings the MIT receives, with
    frames t-1 and t+1 as positives for frame t. A self-supervised term (time-contrastive, as in
    Sermanet et al.'s time-contrastive networks): it makes each frame's embedding carry what changes from
    frame to frame (where a thing is, how big), without which the MIT cannot tell a motion from its reverse.
    Contrastive loss on the queries alone does not: it first learns what a clip shows, and the features then
    ignore where it is. Frames that do not change (a still shot) score alike and add a constant."""
    count = frames.shape[1]
    unit = torch.nn.functional.normalize(frames.float(), dim=-1)
    logits = unit @ unit.transpose(1, 2) / temperature  # (clips, T, T)
    steps = torch.arange(count)
    distance = (steps[:, None] - steps[None, :]).abs().to(frames.device)
    minus = torch.finfo(logits.dtype).min
    logits = logits.masked_fill(distance == 0, minus)
    positive = logits.masked_fill(distance != 1, minus)
    return (torch.logsumexp(logits, dim=-1) - torch.logsumexp(positive, dim=-1)).mean()


def step_masks(torch, owner, texts: int, reversed_negatives: bool, offsets: int, backgrounds: int):
    """(positive, allowed) for a step's videos against its `texts`: the batch's clips (clip i shows text
    owner[i]), then each clip reversed if `reversed_negatives`, then `offsets` windows partly off the first
    clips' moments, then `backgrounds`. A reversed clip is known not to show its own text only; an offset
    window is neither a positive nor a negative for its own text (it partly shows it) and a negative for
    the others; a background is a negative for every text."""
    clips = len(owner)
    rows = clips * (2 if reversed_negatives else 1) + offsets + backgrounds
    positive = torch.zeros(rows, texts, dtype=torch.bool)
    positive[torch.arange(clips), owner] = True
    allowed = torch.ones_like(positive)
    first = clips
    if reversed_negatives:
        allowed[first : first + clips] = False
        allowed[torch.arange(first, first + clips), owner] = True
        first += clips
    allowed[torch.arange(first, first + offsets), owner[:offsets]] = False
    return positive, allowed


def look_alike_batches(clips: list, size: int, rng: random.Random) -> list[list]:
    """Batches of queries worded alike: each starts from a random query and fills up with the queries that
    share the most words with it ("a red square moving left" beside "... moving right" and "a blue square
    moving left"), a few clips of each. In shuffled batches such pairs rarely meet, and the loss is then
    low without telling them apart: here each is the other's negative. A batch of one query is dropped."""
    by_query: dict[str, list] = defaultdict(list)
    for clip in clips:
        by_query[clip.moment.query].append(clip)
    for group in by_query.values():
        rng.shuffle(group)
    words = {query: set(query.lower().split()) for query in by_query}
    per_query = max(2, size // 8)
    out = []
    while True:
        left = [query for query, group in by_query.items() if group]
        if not left:
            break
        seed = rng.choice(left)
        ranked = sorted(left, key=lambda q: (q != seed, -len(words[seed] & words[q]) / len(words[seed] | words[q]),
                                             rng.random()))
        batch = []
        for query in ranked:
            take = min(per_query, size - len(batch), len(by_query[query]))
            batch += [by_query[query].pop() for _ in range(take)]
            if len(batch) >= size:
                break
        if len({clip.moment.query for clip in batch}) > 1:
            out.append(batch)
    rng.shuffle(out)
    return out
