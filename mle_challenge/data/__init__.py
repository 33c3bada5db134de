"""Raw listings → the clean table the model trains on.

``sources`` reads and writes tables at a path, an HTTP(S) URL or an S3 URL; ``parse`` parses
text columns into typed ones; ``airbnb_fields`` parses Inside Airbnb's own fields (price,
bathrooms, amenities, neighbourhood); ``clean`` validates and cleans Inside Airbnb's detailed
``listings.csv``; ``actuals`` reads a later file's prices; ``split`` draws the train,
validation and test ids; ``synthetic`` generates the demo listings.

May import: ``mle_challenge.config``, ``mle_challenge.errors`` and the package root only.
"""
