"""The Inside Airbnb project's own code: preparing its raw listings, its synthetic demo data and its baseline."""
