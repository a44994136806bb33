"""Root pytest setup: every notebook that nbval executes is a ``slow`` test.

``python -m pytest -m "not slow"`` then runs only the unit tests (about 5 minutes on 2 cores).
"""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if item.nodeid.startswith("notebooks/"):
            item.add_marker(pytest.mark.slow)
