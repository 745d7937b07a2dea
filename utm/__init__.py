"""utm: the UTM service (operational intents, strategic deconfliction, conformance, the store).

Imports airspace only; never sim or api.
"""
