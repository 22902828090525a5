"""Jobs: whole tasks built on the pipeline, provenance and visibility layers.

``protect`` is the files-in, files-out job (reports, atomic outputs, C2PA signing). The
platform screening queue (``bystander.screening``) and corpus runs (``bystander.corpus``)
sit in the same layer; see docs/architecture.md.
"""
