"""The model: clean table → fitted scikit-learn pipeline → answers.

``features`` is the one definition of the model's inputs (saved inside every model);
``train`` builds and fits the candidates; ``decision`` turns probabilities into a category;
``evaluate`` scores candidates and writes the report; ``schema`` is the API contract a model
accepts and answers with; ``predictor`` loads a registered model and answers, through the exact
engines ``fastpath`` (one request) and ``bulk`` with its compiled ``_kernel`` (batch).

May import: ``mle_challenge.data`` and the shared modules (``config``, ``errors``).
"""
