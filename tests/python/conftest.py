"""pytest set-up for the Python package: imports vkconv from the build (VKCONV_PYTHON_PATH, else
build/python), turns the Khronos validation layer (and synchronization validation) on for every
context, as the C++ tests do, and fails any test during which the layer reported anything; what it
reports when the contexts are destroyed at the end (leaked Vulkan objects) fails the run."""
import gc
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")

os.environ["VKCONV_VALIDATION"] = "1"
# Tuning results of the user's `vkconv tune` must not change which algorithm Auto picks under test.
os.environ.setdefault("VKCONV_CACHE_DIR", os.path.join(os.environ.get("VKCONV_PYTHON_PATH", os.path.join(ROOT, "build", "python")),
                                                       "..", "test-cache"))
sys.path.insert(0, os.environ.get("VKCONV_PYTHON_PATH", os.path.join(ROOT, "build", "python")))

import vkconv  # noqa: E402
from vkconv import _vkconv  # noqa: E402

vkconv.set_default_context(vkconv.Context(validation=True, sync_validation=True))


@pytest.fixture(autouse=True)
def _fail_on_validation_messages():
    _vkconv.clear_validation_log()
    yield
    messages = _vkconv.validation_log()
    _vkconv.clear_validation_log()
    if messages:
        pytest.fail("validation layer:\n" + "\n".join(messages), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    # Destroy every context (the default one and the functional layers' cache holding it), then
    # fail the run on what the layer said at vkDestroyDevice (objects vkconv left alive).
    vkconv.nn.functional._clear_cache()
    vkconv.set_default_context(None)
    gc.collect()
    messages = _vkconv.validation_log()
    if messages:
        sys.stderr.write("validation layer at context destruction:\n" + "\n".join(messages) + "\n")
        session.exitstatus = 1


def has_torch():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False
