"""Speed, memory, export and learning-quality measurements of the zoo and its recipes (not installed with the library)."""
