"""Batch prediction: a listings file of any size → a predictions file and a rejects file.

``predict`` reads raw or API-shaped rows in chunks, checks them with the API's rules, predicts
with the registered model and writes as it goes.

May import: ``mle_challenge.monitoring``, ``mle_challenge.lifecycle``, ``mle_challenge.model``,
``mle_challenge.data`` and the shared modules.
"""
