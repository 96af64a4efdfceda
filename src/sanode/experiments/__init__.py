"""Experiment drivers built on the library API (repeated seeds, paper reproductions)."""
