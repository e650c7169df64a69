"""One fine-tuning run from settings: the model to start from, the labelled clips, the split, resuming."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from vsearch.config import Settings
from vsearch.errors import VsearchError
from vsearch.evaluation.labels import Labels
from vsearch.training.data import decode_labelled
from vsearch.training.finetune import EpochReport, Trainer, TrainingPlan, TrainingReport, resume_state, run, split


class FinetuneError(VsearchError):
    pass


def training_precision(setting: str, device: str) -> str:
    """Autocast for training: bf16 where the device does it well (float16 would need loss scaling)."""
    import torch

    from vsearch.model.xclip import cpu_has_fast_bf16

    if setting in ("fp32", "bf16"):
        return setting
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if setting == "auto" and cpu_has_fast_bf16() else "fp32"


def finetune(settings: Settings, labels: Labels, out: Path, plan: TrainingPlan, *, resume: bool = False,
             on_decoding: Callable[[int, int], None] | None = None,
             on_decoded: Callable[[int, list], None] | None = None,
             on_epoch: Callable[[EpochReport], None] | None = None,
             on_step: Callable[[float], None] | None = None) -> TrainingReport:
    """Fine-tune `settings.model` on `labels` into the checkpoint folder `out`; with `resume`, go on from the
    last epoch saved there."""
    from vsearch.media.resize import PreprocessSpec
    from vsearch.model.xclip import load_pretrained, resolve_device

    out = Path(out).expanduser().absolute()
    state = resume_state(out)
    if state is not None and not resume:
        raise FinetuneError(f"{out} holds a fine-tuning run already: pass --resume to go on with it, or "
                            "choose another --out folder.")
    if state is None and resume and out.exists() and any(out.iterdir()):
        raise FinetuneError(f"{out} holds no fine-tuning run to resume (no {out.name}/finetune_state.pt).")
    device = resolve_device(settings.device)
    if state is not None:
        plan = replace(TrainingPlan(**state["plan"]), epochs=max(plan.epochs, state["plan"]["epochs"]))
    else:
        plan = replace(plan, precision=training_precision(settings.precision, device))
    processor, model = load_pretrained(str(out) if state is not None else settings.model)
    spec = PreprocessSpec.from_image_processor(processor.image_processor)
    edge = spec.prescale_edge() if settings.decoder_prescale else None
    num_frames = int(model.config.vision_config.num_frames)
    decoded = decode_labelled(labels.moments, spec, num_frames, settings.clip_seconds, edge,
                              backgrounds_per_file=1 if plan.background_negatives else 0, seed=plan.seed,
                              margin=int(round(max(plan.shift, plan.offset_negatives) * num_frames)),
                              on_file=on_decoding, threads=os.cpu_count() or 1)  # nothing else runs yet
    clips, failed = decoded.clips, decoded.failed
    if on_decoded:
        on_decoded(len(clips), failed)
    train, validation = split(clips, plan.validation, plan.seed)
    held = {c.moment.path for c in validation}  # a validation file's background stays out of training
    backgrounds = [b for b in decoded.backgrounds if b.path not in held]
    if len({c.moment.query for c in train}) < 2:
        raise FinetuneError("fine-tuning needs moments of at least two different queries to train on "
                            f"({len(clips)} usable moment(s), {len(validation)} held out for validation).")
    trainer = Trainer(model, processor, spec, plan, device)
    report = TrainingReport(plan, sum(p.numel() for p in trainer.parameters), len(train), len(validation))
    first_epoch, rng_state = 1, None
    if state is not None:
        try:
            trainer.optimizer.load_state_dict(state["optimizer"])
        except ValueError as exc:  # a state saved before the optimiser's groups changed
            raise FinetuneError(f"the run saved in {out} cannot be resumed by this version of vsearch ({exc}): "
                                "start it again in a new --out folder.") from exc
        first_epoch, rng_state = state["epoch"] + 1, state["rng"]
        saved = out / "finetune_report.json"
        earlier = json.loads(saved.read_text()) if saved.exists() else {}
        report.epochs = [EpochReport(**e) for e in earlier.get("epochs", [])]
    (out / "labels_used.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "labels_used.json").write_text(json.dumps({"labels": str(labels.source), "plan": asdict(plan),
                                                      "started_from": settings.model}, indent=2))
    write_bank(out, settings.model, labels)
    return run(trainer, train, validation, out, report, first_epoch, rng_state, on_epoch, on_step, backgrounds)


def write_bank(out: Path, started_from: str, labels: Labels) -> None:
    """The checkpoint's relevance bank prompts (vsearch.relevance): its starting checkpoint's, and the queries
    it learns, so that a query for one labelled event is weighed against the others'."""
    from vsearch.relevance import BANK_FILE, read_prompts

    earlier = Path(started_from).expanduser() / BANK_FILE
    prompts = read_prompts(earlier) if earlier.is_file() else []
    prompts += [m.query for m in labels.moments]
    lines = "".join(p + "\n" for p in dict.fromkeys(" ".join(p.split()) for p in prompts if p.strip()))
    (out / BANK_FILE).write_text("# relevance bank prompts: the queries this checkpoint was fine-tuned on\n" + lines)
