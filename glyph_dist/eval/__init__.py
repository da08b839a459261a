"""The one evaluation harness: episodes, the loop (teach, read, answer, judge, score) and the trial."""
