"""Load benchmarks of the served-call path (``make bench``); see RESULTS.md."""
