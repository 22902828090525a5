"""Measurement beside the pipeline: face libraries, hard-condition and real-video benchmarks.

This package uses ``bystander.vision``; the pipeline never imports it.
"""
