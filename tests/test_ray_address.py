"""The Ray backend's address check, alone: no cluster is started."""

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")

from mnist_core.jobs.ray import RayUnavailable  # noqa: E402
from mnist_core.jobs.ray.backend import _check_reachable, parse_address  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.mark.parametrize("address, target", [
    ("127.0.0.1:6379", ("127.0.0.1", 6379)), ("head:", ("head", 6379)), ("[::1]:6380", ("::1", 6380)),
    ("ray://head:10002", ("head", 10002)), ("ray://head", ("head", 10001)), ("auto", None), ("local", None),
])
def test_an_address_names_a_host_and_a_port(address, target):
    assert parse_address(address) == target


@pytest.mark.parametrize("address", ["::::nonsense", "head", ":6379", "head:0", "head:70000", "head: 5",
                                     "head:+5", "ray://head:port", "ray://:5"])
def test_a_malformed_address_says_what_it_must_be(address):
    with pytest.raises(RayUnavailable, match=r"^RAY_ADDRESS must be host:port or ray://host:port \(got ") as info:
        _check_reachable(address, timeout=0.1)
    assert repr(address) in str(info.value) and isinstance(info.value, ValueError)
