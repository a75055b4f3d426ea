"""Fuzzing: Hypothesis property tests and atheris harnesses over the parsers that face attackers."""
