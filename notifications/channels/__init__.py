"""The ways out: sending through apprise, saved channel settings and secrets, outbound address checks."""
