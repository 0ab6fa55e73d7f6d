from __future__ import annotations

from layerkit.provenance import (
    installed_wheel_sha256,
    pylock_requirements,
    read_pylock,
    wheel_tags,
)

PYLOCK = """
lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "Charset_Normalizer"
version = "3.5.3"
wheels = [
    { url = "https://x/charset_normalizer-3.5.3-cp312-cp312-manylinux1_x86_64.manylinux_2_28_x86_64.whl", hashes = { sha256 = "aaa" } },
    { url = "https://x/charset_normalizer-3.5.3-py3-none-any.whl", hashes = { sha256 = "bbb" } },
    { name = "charset_normalizer-3.5.3-cp37-abi3-manylinux_2_28_x86_64.whl", url = "https://x/y", hashes = { sha256 = "ccc" } },
    { url = "https://x/not-a-wheel.tar.gz", hashes = { sha256 = "ddd" } },
]
"""

WHEEL = "Wheel-Version: 1.0\nGenerator: x\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux1_x86_64\nTag: cp312-cp312-manylinux_2_28_x86_64\n"


def test_the_installed_wheel_is_the_one_with_exactly_its_tags() -> None:
    lock = read_pylock(PYLOCK)
    tags = wheel_tags(WHEEL)
    assert tags == {"cp312-cp312-manylinux1_x86_64", "cp312-cp312-manylinux_2_28_x86_64"}
    assert installed_wheel_sha256("charset-normalizer", "3.5.3", tags, lock) == "aaa"
    assert installed_wheel_sha256("charset_normalizer", "3.5.3", {"py3-none-any"}, lock) == "bbb"
    assert (
        installed_wheel_sha256(
            "charset-normalizer", "3.5.3", {"cp37-abi3-manylinux_2_28_x86_64"}, lock
        )
        == "ccc"
    )


def test_unknown_means_empty_not_a_guess() -> None:
    lock = read_pylock(PYLOCK)
    assert (
        installed_wheel_sha256("charset-normalizer", "3.5.3", {"cp311-cp311-linux_x86_64"}, lock)
        == ""
    )
    assert installed_wheel_sha256("charset-normalizer", "9.9", {"py3-none-any"}, lock) == ""
    assert installed_wheel_sha256("other", "1.0", {"py3-none-any"}, lock) == ""


def test_pylock_requirements_pin_every_locked_package() -> None:
    assert pylock_requirements(PYLOCK) == "Charset_Normalizer==3.5.3\n"
    assert pylock_requirements('lock-version = "1.0"\n') == ""
