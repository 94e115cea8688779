"""Evaluation of trained models on independent suites (docs/design.md, "Ablations").

In:  a run dir (or a local transformers GPT-2 folder) and the `[eval]` suites of the config.
Out: bits per byte and nats/token per suite, zero-shot task accuracies, per-item scores for
     paired statistics (stats.py), and a lineage registry of runs (registry.py).
"""
