"""Generated scenes and benchmarks."""
