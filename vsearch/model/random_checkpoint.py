"""Build a random-weight X-CLIP checkpoint offline: the real architecture, tokenizer and processor.

Tests use a tiny one; benchmarks use the full-size architecture (`XCLIPConfig()` defaults), which
costs exactly what microsoft/xclip-base-patch32 costs. The tokenizer is a real CLIPTokenizer over a
small byte-level BPE vocabulary built here, so no download is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

WORDS = (
    "a an the of and in on with at is are to person people man woman dog cat car bike ball red green "
    "blue white black yellow eating spaghetti playing sports go shopping walking running driving "
    "street tree sky water music dancing cooking hello movie video screen monitor bunny logo"
).split()


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte-to-character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


def write_clip_vocabulary(directory: Path, words: tuple[str, ...] | list[str] = WORDS) -> int:
    """Write vocab.json and merges.txt for a CLIP BPE with every byte plus merges for `words`."""
    symbols = list(_bytes_to_unicode().values())
    vocab: list[str] = symbols + [s + "</w>" for s in symbols]
    merges: list[tuple[str, str]] = []
    known = set(vocab)
    for word in words:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            merged = pair[0] + pair[1]
            if merged not in known:
                known.add(merged)
                vocab.append(merged)
                merges.append(pair)
            parts = [merged] + parts[2:]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return len(vocab)


def tiny_config(num_frames: int = 4, image_size: int = 32, vocab_size: int = 49408):
    from transformers import XCLIPConfig

    return XCLIPConfig(
        projection_dim=16,
        prompt_layers=2,
        prompt_num_attention_heads=2,
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
        ),
        vision_config=dict(
            image_size=image_size,
            patch_size=8,
            num_frames=num_frames,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            mit_hidden_size=16,
            mit_intermediate_size=32,
            mit_num_hidden_layers=1,
            mit_num_attention_heads=2,
        ),
    )


def build_checkpoint(directory: Path, config=None, seed: int = 0, words: tuple[str, ...] | list[str] = WORDS) -> Path:
    """Save an X-CLIP with random weights, a CLIPTokenizer and a VideoMAEImageProcessor in `directory`;
    `words` are whole tokens of the vocabulary (any other word is spelled out in smaller pieces)."""
    import torch
    from transformers import CLIPTokenizer, VideoMAEImageProcessor, XCLIPModel, XCLIPProcessor

    directory = Path(directory)
    vocab_dir = directory / "_vocab"
    vocab_size = write_clip_vocabulary(vocab_dir, words)
    config = config if config is not None else tiny_config(vocab_size=vocab_size)
    torch.manual_seed(seed)
    model = XCLIPModel(config).eval()
    model.save_pretrained(directory)
    # Loading from files works across transformers versions (their constructors differ).
    tokenizer = CLIPTokenizer.from_pretrained(
        vocab_dir, model_max_length=config.text_config.max_position_embeddings
    )
    size = config.vision_config.image_size
    image_processor = VideoMAEImageProcessor(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )
    XCLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    for leftover in vocab_dir.iterdir():
        leftover.unlink()
    vocab_dir.rmdir()
    return directory


def main() -> None:
    """`python -m vsearch.model.random_checkpoint DIR [--full]`: write a random-weight checkpoint."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--full", action="store_true", help="full-size architecture (xclip-base-patch32)")
    args = parser.parse_args()
    config = None
    if args.full:
        from transformers import XCLIPConfig

        config = XCLIPConfig()
    print(build_checkpoint(args.directory, config))


if __name__ == "__main__":
    main()
