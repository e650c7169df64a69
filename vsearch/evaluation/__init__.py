"""Search quality: labelled moments (labels.py), the measures (metrics.py) and `vsearch eval` (run.py)."""
