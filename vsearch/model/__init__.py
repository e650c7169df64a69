"""Model stages: preprocess frames as the checkpoint's processor does; embed clips and text with X-CLIP."""
