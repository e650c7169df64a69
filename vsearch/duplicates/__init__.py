"""Copies and shared footage: frame fingerprints matched in order across videos."""
