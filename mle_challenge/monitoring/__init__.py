"""What happens to a model once it serves: every answer logged, drift and realized performance
measured from the log.

- ``log``: the service's answers and batch runs in SQLite or PostgreSQL, written off the
  request path, spilled to a file and replayed while the database is down.
- ``profile``: the reference profile saved with every model at registration.
- ``drift``, ``realized``: a window of answers against the profile, and against a later
  listings file's prices.
- ``monitor``, ``report``: one monitoring run → summary, HTML report, Prometheus gauges.

May import: ``mle_challenge.lifecycle``, ``mle_challenge.model``, ``mle_challenge.data`` and the
shared modules.
"""
