"""The printed documents: issued case documents rendered and stored once, inspection records, periodic reports."""
