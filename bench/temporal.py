"""A temporal benchmark: can vsearch learn moments whose answer is in the motion, not in any one frame?

Generates (with PyAV) videos of coloured squares on varied backgrounds. Each video holds one labelled
event somewhere inside a longer stretch where its square stands still: "a red square moving left",
"... growing", and so on. Single frames cannot tell left from right or growing from shrinking. Train
and test are different videos (new positions, speeds, sizes, backgrounds, event times) of the same
sentences; some colour-motion pairs are held out of training entirely. Starting from a small X-CLIP
built from its config (random weights), it fine-tunes with `vsearch.training` on train, then ingests
the test videos (the seen sentences' and the held-out pairs' together, so every query has the other
videos as distractors) and evaluates them with `vsearch.evaluation` (as `vsearch eval`): recall@1 and
moment recall@1, before and after training. A control scores the test clips with their frames shuffled
in time, and a linear probe measures how much of the square's place a single still frame's embedding
carries. The default recipe adds the self-supervised frame-order term (`--frame-order 2`): without it,
directions stay near chance; and windows partly off each event as negatives for the other queries
(`--offset-negatives 0.75 --offset-windows 8`): without them, a clip that shows the end of one event
often answers another query with full confidence. Relevance: queries for events absent from a library against present ones
(bench/temporal_relevance.py).
Prints JSON: the numbers, the loss curve, the recipe, the time taken, the machine.

    python bench/temporal.py                  # the default recipe (see --help: 4 frames, 200 epochs, ...)
    python bench/temporal.py --videos-per-sentence 6 --epochs 3   # a quick look
    python bench/temporal.py --offset-negatives 0 --crop 0.8      # the recipe's other options
    python bench/temporal.py --device cuda                        # train and embed on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230), "yellow": (230, 210, 40)}
MOTIONS = ("moving left", "moving right", "moving up", "moving down", "growing", "shrinking")
HELD_OUT = (("red", "moving left"), ("blue", "growing"), ("green", "moving down"), ("yellow", "shrinking"))
SIZE, FPS, SECONDS, EVENT = 64, 8, 12, 4
# whole tokens in the tokenizer, as in CLIP's real vocabulary (other words would be spelled out in pieces)
WORDS = tuple(COLOURS) + ("a", "square", "moving", "left", "right", "up", "down", "growing", "shrinking")


def sentence(colour: str, motion: str) -> str:
    return f"a {colour} square {motion}"


def _square_path(motion: str, rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, side) of the square at each instant of the event (t in 0..1)."""
    t = np.linspace(0.0, 1.0, EVENT * FPS)
    side = rng.uniform(10, 16)
    travel = rng.uniform(18, 34)
    x0, y0 = rng.uniform(8, SIZE - 24), rng.uniform(8, SIZE - 24)
    x, y, s = np.full_like(t, x0), np.full_like(t, y0), np.full_like(t, side)
    if motion in ("moving left", "moving right"):
        start = rng.uniform(travel, SIZE - side) if motion == "moving left" else rng.uniform(0, SIZE - side - travel)
        x = start + (-1 if motion == "moving left" else 1) * travel * t
    elif motion in ("moving up", "moving down"):
        start = rng.uniform(travel, SIZE - side) if motion == "moving up" else rng.uniform(0, SIZE - side - travel)
        y = start + (-1 if motion == "moving up" else 1) * travel * t
    else:
        small, large = rng.uniform(6, 10), rng.uniform(20, 28)
        s = small + (large - small) * (t if motion == "growing" else 1 - t)
        x, y = np.full_like(t, rng.uniform(0, SIZE - large)), np.full_like(t, rng.uniform(0, SIZE - large))
    return x, y, s


def random_background(rng: random.Random) -> np.ndarray:
    """A dark grey with a slight tint: the backdrop of one video."""
    return np.array([rng.randint(0, 90)] * 3, dtype=np.uint8) + np.array(
        [rng.randint(0, 30) for _ in range(3)], dtype=np.uint8)


def square_frame(background: np.ndarray, rgb, left: int, top: int, side: int) -> np.ndarray:
    """One frame: the backdrop with a square of colour `rgb` at (left, top), clipped at the frame's edges."""
    frame = np.empty((SIZE, SIZE, 3), np.uint8)
    frame[:] = background
    frame[max(top, 0) : top + side, max(left, 0) : left + side] = rgb
    return frame


def draw_video(colour: str, motion: str, rng: random.Random) -> dict:
    """What one video shows, drawn from `rng`: the square's path during the event, when the event starts,
    the backdrop."""
    x, y, s = _square_path(motion, rng)
    return {"colour": colour, "path": (x, y, s), "event_start": rng.randint(0, SECONDS - EVENT),
            "background": random_background(rng)}


def render_video(path: Path, drawn: dict) -> tuple[float, float]:
    """Encode a drawn video; returns the labelled event's (start, end) in seconds."""
    (x, y, s), event_start = drawn["path"], drawn["event_start"]
    frames = []
    for index in range(SECONDS * FPS):
        step = min(max(index - event_start * FPS, 0), EVENT * FPS - 1)  # still before and after the event
        frames.append(square_frame(drawn["background"], COLOURS[drawn["colour"]], int(round(x[step])),
                                   int(round(y[step])), int(round(s[step]))))
    _encode(path, frames)
    return float(event_start), float(event_start + EVENT)


def _encode(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "12", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_set(folder: Path, pairs, per_sentence: int, seed: int) -> list[dict]:
    """Videos of each (colour, motion) pair and their labelled events. The videos are drawn in order from one
    random stream (the same set for a seed) and encoded on every core (the encoder lets go of the GIL)."""
    rng = random.Random(seed)
    jobs = []
    for colour, motion in pairs:
        for number in range(per_sentence):
            path = folder / f"{colour}-{motion.replace(' ', '-')}-{number}.mp4"
            jobs.append((sentence(colour, motion), path, draw_video(colour, motion, rng)))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        spans = list(pool.map(lambda job: render_video(job[1], job[2]), jobs))
    return [{"query": query, "path": str(path), "start": start, "end": end}
            for (query, path, _), (start, end) in zip(jobs, spans)]


def _write(labels: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in labels))
    return path


def small_config(vocab_size: int, mit_layers: int = 1, width: int = 64, patch: int = 16, frames: int = 8):
    """A small X-CLIP: `width` is the hidden size of both towers and of the projection (and so of the MIT);
    `patch`: the side of a vision patch in pixels (16: a 4 x 4 grid of the 64 px frame); `frames`: the
    frames it sees per clip (ingest and training sample as many)."""
    from transformers import XCLIPConfig

    heads = max(2, width // 32)
    return XCLIPConfig(
        projection_dim=width, prompt_layers=1, prompt_num_attention_heads=heads,
        text_config=dict(vocab_size=vocab_size, hidden_size=width, intermediate_size=2 * width, num_hidden_layers=3,
                         num_attention_heads=heads, max_position_embeddings=32),
        vision_config=dict(image_size=SIZE, patch_size=patch, num_frames=frames, hidden_size=width,
                           intermediate_size=2 * width, num_hidden_layers=3, num_attention_heads=heads,
                           mit_hidden_size=width, mit_intermediate_size=2 * width, mit_num_hidden_layers=mit_layers,
                           mit_num_attention_heads=heads),
    )


def evaluate_library(checkpoint: Path, videos: Path, label_sets: dict[str, Path], work: Path, name: str,
                     device: str = "cpu") -> dict:
    """Ingest `videos` with `checkpoint` (1 s stride: a clip starts at every second) into one library and
    evaluate each labels file against all of it: every query has the other videos as distractors."""
    from vsearch.config import Settings
    from vsearch.evaluation.labels import read_labels
    from vsearch.evaluation.run import SearchSettings, evaluate
    from vsearch.ingest import ingest
    from vsearch.library import Library

    # no copy folding: the copy detector cannot tell these flat videos apart (see bench/temporal_relevance.py)
    settings = Settings(data_dir=work / f"library-{name}", model=str(checkpoint), device=device, precision="fp32",
                        clip_seconds=EVENT, stride_seconds=1.0, workers=1, cpu_linear="blas", fold_copies=False)
    library = Library(settings)
    try:
        ingest(library, [videos])
        units = [SearchSettings("moment"), SearchSettings("clip", group="clip")]
        out = {}
        for label, path in label_sets.items():
            runs = evaluate(library, read_labels(path), k=10, runs=units).runs
            out[label] = runs[0]["metrics"]  # moments, as `vsearch query` answers
            out[label + "_clip_unit"] = runs[1]["metrics"]
        return out
    finally:
        library.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos-per-sentence", type=int, default=60, help="training videos per seen sentence")
    parser.add_argument("--test-videos-per-sentence", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=float, default=0.05)
    parser.add_argument("--background-negatives", type=int, default=4,
                        help="background clips (the square standing still) per step, as negatives for every query")
    parser.add_argument("--reversed-negatives", action=argparse.BooleanOptionalAction, default=False,
                        help="each clip played backwards is a negative for its own query")
    parser.add_argument("--crop", type=float, default=1.0,
                        help="below 1: random crops of at least this share of each side, the same on every frame")
    parser.add_argument("--shift", type=float, default=0.25,
                        help="training windows moved at random by up to this share of a clip, earlier or later")
    parser.add_argument("--shift-from", type=float, default=0.0,
                        help="share of the epochs trained on the events' own windows before shifting starts")
    parser.add_argument("--mit-lr-scale", type=float, default=1.0,
                        help="learning rate of the multi-frame integration transformer over the rest's")
    parser.add_argument("--offset-negatives", type=float, default=0.75,
                        help="windows moved off each event, beyond the shift and up to this share of a clip: "
                             "negatives for the other queries")
    parser.add_argument("--offset-windows", type=int, default=8,
                        help="offset windows per step (0: one for each clip of the batch)")
    parser.add_argument("--mit-layers", type=int, default=1,
                        help="layers of the small model's multi-frame integration transformer (time order)")
    parser.add_argument("--width", type=int, default=64,
                        help="hidden size of the small model's towers, projection and MIT (64: about 0.5 M weights)")
    parser.add_argument("--vision-position-std", type=float, default=0.5,
                        help="re-initialise the small model's patch position embeddings at this std (0: keep "
                             "the config's 0.02)")
    parser.add_argument("--text-token-std", type=float, default=0.5,
                        help="re-initialise the small model's token embeddings at this std (0: keep the config's "
                             "0.02): a word must stand out in the text tower's residual stream")
    parser.add_argument("--patch", type=int, default=16, choices=[4, 8, 16, 32],
                        help="vision patch side in pixels (8: a finer grid, about 4x the compute)")
    parser.add_argument("--frame-order", type=float, default=2.0,
                        help="weight of the self-supervised frame-order term (recipe.frame_order_loss); 0: off")
    parser.add_argument("--weight-decay", type=float, default=0.2,
                        help="AdamW weight decay on weight matrices and embeddings")
    parser.add_argument("--frames", type=int, default=4,
                        help="frames the small model sees per clip (8: twice the compute)")
    parser.add_argument("--look-alike", type=float, default=0.0,
                        help="share of the epochs whose batches gather sentences worded alike (hard negatives)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where the model trains and embeds (the targets are set for the CPU)")
    parser.add_argument("--work", type=Path, help="folder for videos, checkpoints and libraries (default: temporary)")
    args = parser.parse_args()
    began = time.perf_counter()

    from bench.common import configure_process, machine
    from bench.temporal_checks import position_probe, shuffled_recall
    from bench.temporal_relevance import measure as measure_relevance
    from vsearch.config import Settings
    from vsearch.evaluation.labels import read_labels
    from vsearch.model.random_checkpoint import WORDS as BASE_WORDS
    from vsearch.model.random_checkpoint import build_checkpoint
    from vsearch.relevance import read_calibration
    from vsearch.training.finetune import TrainingPlan
    from vsearch.training.job import finetune

    configure_process()
    work = args.work or Path(tempfile.mkdtemp(prefix="vsearch-temporal-"))
    seen = [(c, m) for c in COLOURS for m in MOTIONS if (c, m) not in HELD_OUT]
    (work / "train").mkdir(parents=True, exist_ok=True)
    (work / "test").mkdir(parents=True, exist_ok=True)
    train = _write(make_set(work / "train", seen, args.videos_per_sentence, args.seed), work / "train.jsonl")
    # one test library: new videos of the seen sentences and of the held-out pairs, each the others' distractors
    test = _write(make_set(work / "test", seen, args.test_videos_per_sentence, args.seed + 1), work / "test.jsonl")
    unseen = _write(make_set(work / "test", HELD_OUT, args.test_videos_per_sentence, args.seed + 2),
                    work / "unseen.jsonl")
    generated = time.perf_counter() - began

    words = tuple(dict.fromkeys([*BASE_WORDS, *WORDS]))
    config = small_config(vocab_size=_vocab_size(words), mit_layers=args.mit_layers, width=args.width,
                          patch=args.patch, frames=args.frames)
    start = build_checkpoint(work / "xclip-start", config, seed=args.seed, words=words)
    if args.vision_position_std or args.text_token_std:
        _redraw_embeddings(start, args.vision_position_std, args.text_token_std, args.seed)
    label_sets = {"seen": test, "held_out": unseen}
    before = evaluate_library(start, work / "test", label_sets, work, "before", args.device)
    probe_before = position_probe(start, args.seed)
    settings = Settings(data_dir=work / "unused", model=str(start), device=args.device, precision="fp32",
                        clip_seconds=EVENT)
    plan = TrainingPlan(args.epochs, args.batch_size, args.lr, "all", 0.0, args.seed, warmup=args.warmup,
                        background_negatives=args.background_negatives, reversed_negatives=args.reversed_negatives,
                        crop=args.crop, shift=args.shift, offset_negatives=args.offset_negatives,
                        shift_from=args.shift_from, mit_learning_rate_scale=args.mit_lr_scale,
                        offset_windows=args.offset_windows,
                        look_alike=args.look_alike, frame_order=args.frame_order,
                        weight_decay=args.weight_decay)
    tuned = work / "xclip-tuned"
    trained_at = time.perf_counter()
    report = finetune(settings, read_labels(train), tuned, plan)
    training = time.perf_counter() - trained_at
    after = evaluate_library(tuned, work / "test", label_sets, work, "after", args.device)
    control = shuffled_recall(tuned, test, EVENT, args.seed, args.device)
    probe_after = position_probe(tuned, args.seed)
    relevance = measure_relevance(tuned, [test, unseen], work, args.device,
                                  untrained={m.query for m in read_labels(unseen).moments})
    (work / "relevance.json").write_text(json.dumps(relevance, indent=2))
    print(json.dumps({
        "test_before_training": before["seen"],
        "test_after_training": after["seen"],
        "test_after_training_clip_unit": after["seen_clip_unit"],
        "held_out_colour_motion_pairs": {"before_training": before["held_out"], "after_training": after["held_out"]},
        "time_order_control": control,
        "frame_position_probe": {"before_training": probe_before, "after_training": probe_after},
        "relevance_no_good_match": {
            **{unit: {key: value for key, value in relevance[unit].items() if key != "sweep"}
               for unit in ("test_split", "with_held_out_pairs")},
            "search_agrees_with_the_sweep": relevance["search_agrees_with_the_sweep"],
            "sweeps": str(work / "relevance.json")},
        "relevance_calibration": read_calibration(tuned),
        "loss_curve": [e.loss for e in report.epochs if e.loss is not None],
        "train_events": len(read_labels(train).moments),
        "test_events": len(read_labels(test).moments) + len(read_labels(unseen).moments),
        "sentences_seen": len(seen),
        "seconds": {"generate": round(generated, 1), "train": round(training, 1),
                    "total": round(time.perf_counter() - began, 1)},
        "recipe": {**asdict(plan), "videos_per_sentence": args.videos_per_sentence,
                   "model": f"X-CLIP 64 px, patch {args.patch}, hidden {args.width}, 3 layers, {args.frames} frames, "
                            "random start",
                   "vision_position_std": args.vision_position_std, "text_token_std": args.text_token_std},
        "machine": machine(),
        "work": str(work),
    }, indent=2))


def _redraw_embeddings(checkpoint: Path, position_std: float, token_std: float, seed: int) -> None:
    """Patch position embeddings drawn again at `position_std` (where the square is must reach each frame's
    embedding) and token embeddings at `token_std` (each word must outweigh what the first layer adds, or the
    text tower can lose the last word of a sentence and give two queries one embedding); 0 keeps either."""
    import torch
    from transformers import XCLIPModel

    torch.manual_seed(seed)
    model = XCLIPModel.from_pretrained(checkpoint)
    with torch.no_grad():
        if position_std:
            model.vision_model.embeddings.position_embedding.weight.normal_(0.0, position_std)
        if token_std:
            model.text_model.embeddings.token_embedding.weight.normal_(0.0, token_std)
    model.save_pretrained(checkpoint)


def _vocab_size(words: tuple[str, ...]) -> int:
    from vsearch.model.random_checkpoint import write_clip_vocabulary

    with tempfile.TemporaryDirectory() as folder:
        return write_clip_vocabulary(Path(folder), words)


if __name__ == "__main__":
    main()
