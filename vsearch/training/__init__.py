"""Fine-tuning X-CLIP on labelled moments: the clips (data.py) and the training loop (finetune.py)."""
