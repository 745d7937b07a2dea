"""sim: the SimPy airspace simulator, the 6G link and sensing model, metrics, the event log and replay.

Imports utm and airspace only; never api.
"""
