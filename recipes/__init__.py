"""Command-line recipes that fine-tune, evaluate and export zoo models."""
