"""Answerers and judges for the context benchmark: model-free ones and HF causal LMs from local dirs.

`get_answerer(spec)` and `get_judge(spec)` are the registries; `actors` holds their Ray shells.
"""
