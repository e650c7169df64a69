"""`vsearch finetune`: teach the library's X-CLIP checkpoint the user's labelled moments.

Each step takes a batch of (clip, query) pairs and applies a symmetric contrastive loss to X-CLIP's own
logits (`XCLIPModel.forward`'s logits_per_video, video-conditioned prompts included): each clip should
score its own query above the batch's other queries, and each query its clips above the other clips. A
query that appears several times in a batch has several positives (the supervised form of InfoNCE), so
batches need not have distinct queries. Three kinds of extra negatives can join the clips a query is
ranked against: background clips of the labelled files (outside every labelled moment, so `vsearch eval`
would call them misses), windows moved partly off each moment (negatives for every query but their own,
which they partly show) and, for events that have a direction in time, each clip played backwards (a
negative for its own query only). Random crops, one window for all frames of a clip, and windows shifted in time
around the moment (as ingest's clips fall around it) add variety. A self-supervised frame-order term
(recipe.frame_order_loss) can keep what changes between frames in each frame's embedding, which the MIT
needs to tell a motion from its reverse. The learning rate warms up, then decays on a cosine.

A share of the moments is held out; its recall@1 (each held-out query against every held-out clip) is
printed before training and after every epoch. Every epoch ends with a checkpoint folder that
`--model DIR` loads, plus the optimiser's state, so an interrupted run resumes where the last epoch ended.
After the last, the checkpoint's match level for relevance is measured on its training clips
(vsearch.training.calibrate).
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vsearch.model.preprocess import normalize, normalize_tensor
from vsearch.training import calibrate
from vsearch.training.data import BackgroundClip, TrainingClip
from vsearch.training.recipe import (
    contrastive_loss,
    frame_order_loss,
    learning_rate_factor,
    look_alike_batches,
    offset_slots,
    random_crops,
    step_masks,
    steps_per_epoch,
)

STATE_FILE = "finetune_state.pt"
# what X-CLIP adds on top of CLIP, and the projections: about 10 % of base-patch32's weights
LIGHT_PARTS = ("visual_projection", "text_projection", "prompts_visual_layernorm", "prompts_visual_projection",
               "mit", "prompts_generator", "logit_scale")


@dataclass(frozen=True)
class TrainingPlan:
    epochs: int = 10
    batch_size: int = 8
    learning_rate: float = 1e-5
    parts: str = "light"  # "light" (LIGHT_PARTS) or "all"
    validation: float = 0.2  # share of the queries held out
    seed: int = 0
    precision: str = "fp32"  # "bf16" / "fp16": autocast; the weights and the optimiser stay float32
    warmup: float = 0.05  # share of the steps over which the learning rate rises; then a cosine to zero
    background_negatives: int = 0  # background clips added to each batch as negatives for every query
    reversed_negatives: bool = False  # each clip played backwards is a negative for its own query
    crop: float = 1.0  # < 1: each training clip is a random crop of at least this share of the frame's side
    shift: float = 0.0  # > 0: each training clip's window moves at random by up to this share of its length
    # > 0: each clip's window moved earlier or later, beyond the shift's reach and up to this share of its
    # length (partly the moment, partly not), is a negative for the batch's other queries: a clip half inside
    # one event must not answer another query
    offset_negatives: float = 0.0
    offset_windows: int = 0  # offset windows per step: 0, one for each clip of the batch; N, for its first N
    shift_from: float = 0.0  # share of the epochs trained on the moments' own windows before shifting starts
    # the learning rate of the multi-frame integration transformer (where time order enters) over the rest's
    mit_learning_rate_scale: float = 1.0
    # share of the epochs whose batches gather queries worded alike (recipe.look_alike_batches), not shuffled
    look_alike: float = 0.0
    # > 0: weight of recipe.frame_order_loss, a self-supervised term that keeps where things are (and so
    # motion) in each frame's embedding; for models trained from scratch or taught motion direction
    frame_order: float = 0.0
    # AdamW's decoupled weight decay on weight matrices and embeddings (not on biases, norms, the logit scale
    # or the prompt generator's scale), as CLIP trained: it keeps a model trained from scratch from growing
    # huge activations that drown one word of a sentence (two queries then get one text embedding)
    weight_decay: float = 0.2


@dataclass
class EpochReport:
    epoch: int
    loss: float | None
    validation_recall_at_1: float | None
    seconds: float


@dataclass
class TrainingReport:
    plan: TrainingPlan
    trainable_parameters: int
    train_clips: int
    validation_clips: int
    epochs: list[EpochReport] = field(default_factory=list)
    # pairs of training queries the finished model cannot tell apart (calibrate.merged_queries)
    merged_queries: list[list[str]] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"plan": asdict(self.plan), "trainable_parameters": self.trainable_parameters,
                "train_clips": self.train_clips, "validation_clips": self.validation_clips,
                "epochs": [asdict(e) for e in self.epochs], "merged_queries": self.merged_queries}


def split(clips: list[TrainingClip], share: float, seed: int) -> tuple[list[TrainingClip], list[TrainingClip]]:
    """(train, validation) by query: a held-out query has all its moments held out."""
    queries = sorted({clip.moment.query for clip in clips})
    random.Random(seed).shuffle(queries)
    held = set(queries[: int(round(share * len(queries)))]) if len(queries) > 1 else set()
    return [c for c in clips if c.moment.query not in held], [c for c in clips if c.moment.query in held]


def batches(clips: list[TrainingClip], size: int, rng: random.Random) -> list[list[TrainingClip]]:
    """Shuffled batches; a batch with a single query has nothing to tell apart and is dropped."""
    order = clips[:]
    rng.shuffle(order)
    out = [order[start : start + size] for start in range(0, len(order), size)]
    return [batch for batch in out if len({clip.moment.query for clip in batch}) > 1]


def trainable(model, parts: str) -> list:
    """Freeze what is not trained; returns the trained parameters."""
    chosen = []
    for name, parameter in model.named_parameters():
        train = parts == "all" or name.split(".")[0] in LIGHT_PARTS
        parameter.requires_grad_(train)
        if train:
            chosen.append(parameter)
    return chosen


class Trainer:
    def __init__(self, model, processor, spec, plan: TrainingPlan, device: str = "cpu"):
        import torch

        self.torch = torch
        self.model = model.to(device)
        self.processor = processor
        self.spec = spec
        self.plan = plan
        self.device = device
        self.parameters = trainable(model, plan.parts)
        # beta2 0.98 and eps 1e-6 as CLIP trained: with 0.999 the contrastive loss spikes and collapses.
        # Groups: decayed or not, and the MIT's own rate where it differs (a saved optimiser state has the same)
        scaled = plan.mit_learning_rate_scale != 1.0
        mit = {id(p) for name, p in model.named_parameters() if scaled and name.startswith("mit.")}
        groups = [{"params": [p for p in self.parameters if (id(p) in mit) == in_mit and (p.ndim >= 2) == decays],
                   "scale": plan.mit_learning_rate_scale if in_mit else 1.0,
                   "weight_decay": plan.weight_decay if decays else 0.0}
                  for in_mit in (False, True) for decays in (True, False)]
        groups = [g for g in groups if g["params"]]
        self.optimizer = torch.optim.AdamW(groups, lr=plan.learning_rate, betas=(0.9, 0.98), eps=1e-6)
        self.max_tokens = int(model.config.text_config.max_position_embeddings)
        self.generator = torch.Generator().manual_seed(plan.seed)

    def _autocast(self):
        if self.plan.precision in ("bf16", "fp16"):
            dtype = self.torch.bfloat16 if self.plan.precision == "bf16" else self.torch.float16
            return self.torch.autocast(self.device, dtype=dtype)
        return contextlib.nullcontext()

    def _inputs(self, frames: list[np.ndarray], texts: list[str]):
        torch = self.torch
        if self.device == "cpu":
            pixels = torch.from_numpy(normalize(np.stack(frames), self.spec))
        else:  # uint8 travels, a quarter of the bytes, and the lookup runs on the device (on one CPU core
            # it took most of a step on a GPU)
            pixels = normalize_tensor(torch, torch.from_numpy(np.stack(frames)).to(self.device), self.spec)
        tokens = self.processor.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                                          return_tensors="pt").to(self.device)
        return pixels, tokens

    def step(self, batch: list[TrainingClip], backgrounds: list[BackgroundClip] = (), rate: float = 1.0,
             offsets: list[TrainingClip] = ()) -> float:
        """One optimiser step at `rate` times the plan's learning rate; returns the loss. `offsets`: windows
        partly off the batch's moments (one per clip, in order), negatives for every query but their own."""
        torch = self.torch
        self.model.train()
        texts = sorted({c.moment.query for c in batch})
        owner = torch.tensor([texts.index(c.moment.query) for c in batch])
        frames = [c.frames for c in batch]
        if self.plan.reversed_negatives:
            frames += [c.frames[::-1] for c in batch]
        frames += [c.frames for c in offsets]
        frames += [b.frames for b in backgrounds]
        positive, allowed = step_masks(torch, owner, len(texts), self.plan.reversed_negatives, len(offsets),
                                       len(backgrounds))
        pixels, tokens = self._inputs(frames, texts)
        if self.plan.crop < 1:
            pixels = random_crops(torch, pixels, self.plan.crop, self.generator)
        with self._autocast():
            output = self.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                                pixel_values=pixels)
        logits = output.logits_per_video.float()  # (clips, texts)
        loss = contrastive_loss(torch, logits, positive.to(self.device), allowed.to(self.device))
        if self.plan.frame_order > 0:
            per_frame = self.model.visual_projection(output.vision_model_output.pooler_output.float())
            per_frame = per_frame.view(pixels.shape[0], pixels.shape[1], -1)[: len(batch)]
            loss = loss + self.plan.frame_order * frame_order_loss(torch, per_frame)
        for group in self.optimizer.param_groups:
            group["lr"] = self.plan.learning_rate * rate * group.get("scale", 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)  # one odd batch must not undo the run
        self.optimizer.step()
        return float(loss.detach())

    def logits(self, frames: list[np.ndarray], texts: list[str]) -> np.ndarray:
        """X-CLIP's logits_per_video of each clip's frames for each text: (clips, texts), in eval mode."""
        torch = self.torch
        self.model.eval()
        scores = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(frames), self.plan.batch_size):
                pixels, tokens = self._inputs(frames[start : start + self.plan.batch_size], texts)
                output = self.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                                    pixel_values=pixels)
                scores.append(output.logits_per_video.float().cpu().numpy())
        return np.concatenate(scores) if scores else np.zeros((0, len(texts)), np.float32)

    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """Each text's X-CLIP text embedding, unit length: (texts, dim), in eval mode."""
        torch = self.torch
        self.model.eval()
        with torch.inference_mode():
            tokens = self.processor.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                                              return_tensors="pt").to(self.device)
            # what get_text_features computes (whose return type differs between transformers versions)
            pooled = self.model.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])[1]
            embeds = self.model.text_projection(pooled).float().cpu().numpy()
        return embeds / np.maximum(np.linalg.norm(embeds, axis=1, keepdims=True), 1e-12)

    def recall_at_1(self, clips: list[TrainingClip]) -> float | None:
        """Each held-out query against every held-out clip: the share whose best clip is one of its own."""
        if not clips:
            return None
        queries = sorted({c.moment.query for c in clips})
        best = self.logits([c.frames for c in clips], queries).T.argmax(axis=1)  # each query's best clip
        return round(float(np.mean([clips[b].moment.query == q for q, b in zip(queries, best)])), 4)

    def save(self, out: Path, epoch: int, rng_state) -> None:
        """A checkpoint folder `--model` loads, then the state a resumed run needs (written last: a folder
        with a state file always holds that epoch's weights)."""
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out)
        self.processor.save_pretrained(out)
        state = {"epoch": epoch, "optimizer": self.optimizer.state_dict(), "plan": asdict(self.plan),
                 "rng": rng_state}
        tmp = out / (STATE_FILE + ".tmp")
        self.torch.save(state, tmp)
        tmp.replace(out / STATE_FILE)


def resume_state(out: Path) -> dict | None:
    import torch

    path = Path(out) / STATE_FILE
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def run(trainer: Trainer, train: list[TrainingClip], validation: list[TrainingClip], out: Path,
        report: TrainingReport, first_epoch: int = 1, rng_state=None,
        on_epoch: Callable[[EpochReport], None] | None = None, on_step: Callable[[float], None] | None = None,
        backgrounds: list[BackgroundClip] = ()) -> TrainingReport:
    """Train from `first_epoch` to the plan's last, saving after each epoch."""
    plan = trainer.plan
    rng = random.Random(plan.seed)
    if rng_state is not None:
        rng.setstate(rng_state)
    if first_epoch == 1:
        started = time.perf_counter()
        before = EpochReport(0, None, trainer.recall_at_1(validation), round(time.perf_counter() - started, 2))
        report.epochs.append(before)
        if on_epoch:
            on_epoch(before)
    per_epoch = steps_per_epoch(train, plan.batch_size)
    total = plan.epochs * per_epoch
    for epoch in range(first_epoch, plan.epochs + 1):
        started = time.perf_counter()
        losses = []
        alike = plan.look_alike > 0 and rng.random() < plan.look_alike
        epoch_batches = (look_alike_batches if alike else batches)(train, plan.batch_size, rng)
        for number, batch in enumerate(epoch_batches):
            offsets = []
            if plan.offset_negatives > 0:
                nearest, furthest = offset_slots(plan, len(batch[0].frames))
                chosen = batch[: plan.offset_windows] if plan.offset_windows else batch
                offsets = [clip.offset(rng, rng.randint(nearest, furthest)) for clip in chosen]
            if plan.shift > 0 and epoch > plan.shift_from * plan.epochs:
                slots = int(round(plan.shift * len(batch[0].frames)))
                batch = [clip.random_shift(rng, slots) for clip in batch]
            negatives = rng.sample(list(backgrounds), min(plan.background_negatives, len(backgrounds)))
            rate = learning_rate_factor((epoch - 1) * per_epoch + number, total, plan.warmup)
            losses.append(trainer.step(batch, negatives, rate, offsets))
            if on_step:
                on_step(losses[-1])
        done = EpochReport(epoch, round(float(np.mean(losses)), 5) if losses else None,
                           trainer.recall_at_1(validation), round(time.perf_counter() - started, 2))
        trainer.save(out, epoch, rng.getstate())
        report.epochs.append(done)
        (Path(out) / "finetune_report.json").write_text(json.dumps(report.as_json(), indent=2))
        if on_epoch:
            on_epoch(done)
    calibration = calibrate.measure(trainer, train, backgrounds, plan.seed)
    calibrate.write(out, calibration)
    report.merged_queries = [] if calibration is None else calibration["merged_queries"]
    return report
