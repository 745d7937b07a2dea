"""Helpers shared by the api tests (not fixtures): walking JSON documents for mutation-based fuzzing."""

import copy
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


def with_value(doc: dict, path: tuple, value) -> dict:
    """A deep copy of ``doc`` with the value at ``path`` replaced (the original is untouched)."""
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc
