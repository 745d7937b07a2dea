"""Helpers shared by the api tests (not fixtures): walking JSON documents for mutation-based fuzzing."""

from collections.abc import Iterator


def json_paths(doc, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path into a JSON document, the root ``()`` first: dict keys and list indices, depth first."""
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from json_paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from json_paths(value, (*prefix, i))
