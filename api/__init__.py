"""api: the edges — the ``utm6g`` command line (cli.py), the HTTP API and the map page.

The only layer that knows argv, JSON documents for humans, HTTP status codes and WGS84 degrees on output.
Start with cli.py. May import every other layer.
"""
