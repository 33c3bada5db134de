"""What happens to a model once it serves: every answer logged, and (next) drift and realized
performance measured from the log.

``log`` keeps the prediction log: the service's answers and batch runs in SQLite or
PostgreSQL, written off the request path, spilled to a file and replayed while the database is
down.

May import: ``mle_challenge.lifecycle``, ``mle_challenge.model``, ``mle_challenge.data`` and the
shared modules.
"""
