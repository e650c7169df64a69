"""Checks of a model trained by bench/temporal.py: does it use time order (the frames-shuffled control), and
does each frame's embedding carry where the square is (the position probe)?"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from bench.temporal import COLOURS, SIZE, random_background, square_frame


def shuffled_recall(checkpoint: Path, labels_path: Path, clip_seconds: float, seed: int, device: str = "cpu",
                    draws: int = 8) -> dict:
    """Recall@1 of each test query against every test event clip: as they are, with each clip's frames in a
    random order (the mean over `draws` independent shuffles: one draw over a few dozen clips swings by
    tenths), and played backwards (which turns every event of the set into its opposite: left into right,
    growing into shrinking), for all queries and for the motion queries alone: what time order is worth."""
    from vsearch.evaluation.labels import read_labels
    from vsearch.media.resize import PreprocessSpec
    from vsearch.model.xclip import load_pretrained
    from vsearch.training.data import TrainingClip, decode_moments
    from vsearch.training.finetune import Trainer, TrainingPlan

    processor, model = load_pretrained(str(checkpoint))
    spec = PreprocessSpec.from_image_processor(processor.image_processor)
    frames = int(model.config.vision_config.num_frames)
    clips, _ = decode_moments(read_labels(labels_path).moments, spec, frames, clip_seconds)
    trainer = Trainer(model, processor, spec, TrainingPlan(batch_size=32), device)
    rng = np.random.default_rng(seed)

    def recall(chosen: list) -> dict:
        shuffled = [trainer.recall_at_1([TrainingClip(c.moment, c.frames[rng.permutation(len(c.frames))])
                                         for c in chosen]) for _ in range(draws)]
        return {"in_order": trainer.recall_at_1(chosen), "frames_shuffled": round(float(np.mean(shuffled)), 4),
                "frames_reversed": trainer.recall_at_1([TrainingClip(c.moment, c.frames[::-1]) for c in chosen])}

    every = recall(clips)
    motion = recall([c for c in clips if c.moment.query.split(" ", 3)[-1].startswith("moving")])
    return {**every, **{f"motion_queries_{key}": value for key, value in motion.items()}, "shuffle_draws": draws}


def position_probe(checkpoint: Path, seed: int = 0, count: int = 800) -> dict:
    """How much of a square's place and size a linear read-out finds in one frame's embedding (the projected
    class token the MIT receives): R^2 on held-out frames of squares of every colour on random backgrounds.
    The MIT can only tell left from right or up from down if x and y reach each frame's embedding; a model
    that scores about zero there answers direction queries at chance, whatever it learns about time."""
    import torch

    from vsearch.media.resize import PreprocessSpec
    from vsearch.model.preprocess import normalize
    from vsearch.model.xclip import load_pretrained

    processor, model = load_pretrained(str(checkpoint))
    spec = PreprocessSpec.from_image_processor(processor.image_processor)
    rng = random.Random(seed)
    pictures, truth = [], []
    for _ in range(count):
        background = random_background(rng)
        side = rng.uniform(6, 28)
        left, top = rng.uniform(0, SIZE - side), rng.uniform(0, SIZE - side)
        pictures.append(square_frame(background, rng.choice(list(COLOURS.values())), int(left), int(top), int(side)))
        truth.append((left + side / 2, top + side / 2, side))
    model.eval()
    with torch.inference_mode():
        pooled = model.vision_model(pixel_values=torch.from_numpy(normalize(np.stack(pictures), spec)))[1]
        features = model.visual_projection(pooled).float().numpy()
    features = np.c_[features, np.ones(len(features))]
    truth = np.array(truth)
    fit = int(0.75 * count)
    scores = {}
    for column, name in enumerate(("x", "y", "side")):
        a, b = features[:fit], truth[:fit, column]
        weights = np.linalg.solve(a.T @ a + 1e-2 * np.eye(a.shape[1]), a.T @ b)
        error = ((features[fit:] @ weights - truth[fit:, column]) ** 2).mean()
        scores[name] = round(float(1 - error / truth[fit:, column].var()), 3)
    return scores
