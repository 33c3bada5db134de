"""What the HTTP service needs around the model, and how it is shipped.

``runtime`` chooses the model to serve and patches a BentoML leak; ``guard`` checks requests
before BentoML reads them; ``bento`` builds a bento for one exact model; ``container`` builds
its image; ``client`` calls a running service, and ``smoke`` sums up what it answered.

May import: ``mle_challenge.batch``, ``mle_challenge.monitoring``, ``mle_challenge.lifecycle``,
``mle_challenge.model``, ``mle_challenge.data`` and the shared modules. The service itself is
``mle_challenge.service``.
"""
