"""Trainers of the toy models, one module per model family (scripts/train_toy_models.py runs them)."""
