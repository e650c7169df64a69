"""Media stages: discover files, decode frames, plan clips and sample their frames."""
