"""A model's life after training: registered, gated, promoted, rolled back, moved.

``registry`` saves models in the BentoML store with their lineage and finds them again;
``production`` keeps content hashes, model cards and the production alias with its history;
``gate`` is the quality gate a model passes before promotion; ``remote`` pushes and pulls
models and bentos through S3.

May import: ``mle_challenge.model``, ``mle_challenge.data`` and the shared modules.
"""
