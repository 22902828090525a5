"""Corpora: protect many files as one resumable job, here or on a Ray cluster.

``plan_corpus`` expands folders, globs and manifest files into jobs; ``run_corpus`` runs
them (one Ray task per file with ``address``/``ray=True``, else in this process), skips
outputs that are already finished and verified, and returns one ``CorpusReport``.
"""
