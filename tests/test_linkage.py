"""Issue 12, the static proof: every binary found by its magic bytes, every needed library
resolved inside the layer or in the runtime image, dlopen'd libraries, other-platform binaries."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerkit import elf, verify
from layerkit.errors import VerificationError
from layerkit.runtime_libs import dlopen_table, runtime_libraries
from layerkit.targets import PYTHON_VERSIONS, Target, make_target
from layerkit.verify import Violation
from tests.build_fixtures import make_project
from tests.elf_fixtures import EM_AARCH64, EM_X86_64, MACHO_64, PE_DLL, Need, make_elf
from tests.support import run_cli
from tests.wheels import make_wheel, serve_index

PY311_X86 = make_target("3.11", "x86_64")
PY312_X86 = make_target("3.12", "x86_64")
PY312_ARM = make_target("3.12", "arm64")
SP = PY312_X86.site_packages
LIBC = Need("libc.so.6", "GLIBC_2.17", "strlen")


def check(
    files: dict[str, bytes],
    target: Target,
    *,
    owners: dict[str, str] | None = None,
    layer_names: tuple[str, ...] = (),
    waived: tuple[str, ...] = (),
) -> tuple[Violation, ...]:
    return verify.check_shared_objects(
        list(files),
        lambda path: io.BytesIO(files[path]),
        target,
        owners=owners or {},
        waived=waived,
        layer_prefix=target.site_packages,
        layer_names=layer_names,
    )


def rules(violations: tuple[Violation, ...]) -> list[tuple[str, str, str]]:
    return sorted((v.path, v.rule, v.severity) for v in violations)


# --- every binary, by its magic bytes -----------------------------------------------------------


def test_a_library_whose_version_has_a_letter_is_checked() -> None:
    """`libcrypto-5409cd36.so.1.1.1k` was skipped by the name filter."""
    name = "pkg.libs/libcrypto-5409cd36.so.1.1.1k"
    new = make_elf(EM_X86_64, [Need("libc.so.6", "GLIBC_2.28", "fcntl64")])
    assert rules(check({name: new}, PY311_X86)) == [(name, "glibc", "error")]


def test_an_executable_of_any_name_is_checked() -> None:
    """`…/driver/node` needing GLIBC_2.28 shipped in a python3.11 layer unchecked."""
    node = make_elf(EM_X86_64, [Need("libc.so.6", "GLIBC_2.28", "fcntl64")],
                    needed=["libc.so.6"], interpreter="/lib64/ld-linux-x86-64.so.2")  # fmt: skip
    violations = check({"playwright/driver/node": node}, PY311_X86)
    assert rules(violations) == [("playwright/driver/node", "glibc", "error")]
    assert check({"playwright/driver/node": node}, PY312_X86) == ()


def test_libatomic_is_missing_on_al2_and_unsure_on_al2023() -> None:
    """playwright's node links libatomic.so.1: absent from the AL2 listing, not ruled out on
    AL2023 (a warning there rather than a false error)."""
    node = make_elf(EM_X86_64, [LIBC], needed=["libc.so.6", "libatomic.so.1"],
                    interpreter="/lib64/ld-linux-x86-64.so.2")  # fmt: skip
    assert rules(check({"driver/node": node}, PY311_X86)) == [
        ("driver/node", "missing-library", "error")
    ]
    assert rules(check({"driver/node": node}, PY312_X86)) == [
        ("driver/node", "missing-library", "warning")
    ]


def test_text_files_are_not_opened() -> None:
    opened: list[str] = []

    def opener(path: str) -> io.BytesIO:
        opened.append(path)
        return io.BytesIO(b"print(1)\n")

    paths = ["pkg/__init__.py", "pkg/data.json", "pkg-1.0.dist-info/RECORD", "pkg/tool"]
    assert verify.check_shared_objects(paths, opener, PY312_X86, owners={}) == ()
    assert opened == ["pkg/tool"]


def test_a_java_class_file_is_not_a_universal_mach_o() -> None:
    assert elf.file_format(b"\xca\xfe\xba\xbe\x00\x00\x00\x34") == "unknown"
    assert elf.file_format(b"\xca\xfe\xba\xbe\x00\x00\x00\x02") == "mach-o-universal"


# --- binaries for other platforms ---------------------------------------------------------------


def test_binaries_for_other_platforms_are_reported_not_fatal() -> None:
    files = {
        "selenium/webdriver/common/linux/selenium-manager": make_elf(EM_X86_64, [LIBC]),
        "selenium/webdriver/common/macos/selenium-manager": MACHO_64,
        "selenium/webdriver/common/windows/selenium-manager.exe": PE_DLL,
        "debugpy/attach.dylib": MACHO_64,
    }
    violations = check(files, PY312_ARM)
    assert {v.rule for v in violations} == {"other-platform"}
    assert all(v.severity == "warning" for v in violations)
    assert len(violations) == 4
    verify.raise_for(violations)  # nothing blocks
    on_x86 = check(files, PY312_X86)
    assert {v.path for v in on_x86} == {
        "selenium/webdriver/common/macos/selenium-manager",
        "selenium/webdriver/common/windows/selenium-manager.exe",
        "debugpy/attach.dylib",
    }


def test_an_extension_module_for_another_machine_stays_fatal() -> None:
    assert rules(check({"pkg/_c.abi3.so": make_elf(EM_X86_64, [LIBC])}, PY312_ARM)) == [
        ("pkg/_c.abi3.so", "machine", "error")
    ]


# --- needed libraries ---------------------------------------------------------------------------


def _needing(*names: str, rpath: str | None = None, machine: int = EM_X86_64) -> bytes:
    return make_elf(machine, [LIBC], needed=names, rpath=rpath)


def test_a_library_the_runtime_lacks_fails_naming_it_its_file_and_distribution() -> None:
    files = {"cv2/cv2.abi3.so": _needing("libc.so.6", "libGL.so.1", "libX11.so.6")}
    (violation,) = check(files, PY312_X86, owners={"cv2/cv2.abi3.so": "opencv-python"})
    assert violation.rule == "missing-library" and violation.severity == "error"
    assert violation.found == "libGL.so.1, libX11.so.6"
    assert "Amazon Linux 2023" in violation.expected
    assert "opencv-python-headless" in violation.hint
    with pytest.raises(VerificationError) as caught:
        verify.raise_for((violation,))
    assert "libGL.so.1" in caught.value.message and "cv2/cv2.abi3.so" in caught.value.message
    assert "--allow opencv-python" in (caught.value.hint or "")
    waived = check(files, PY312_X86, owners={"cv2/cv2.abi3.so": "opencv-python"},
                   waived=("opencv_python",))  # fmt: skip
    verify.raise_for(waived)


def test_the_general_fix_is_to_ship_the_library_in_lib() -> None:
    (violation,) = check({"pkg/_c.abi3.so": _needing("libodbc.so.2")}, PY312_X86)
    assert "layer's lib/" in violation.hint and "/opt/lib" in violation.hint


@pytest.mark.parametrize(
    ("files", "layer_names"),
    [
        # $ORIGIN RPATH into a vendored directory (auditwheel's layout)
        ({"pkg/_c.abi3.so": _needing("libfoo-1a2b.so.1", rpath="$ORIGIN/../pkg.libs"),
          "pkg.libs/libfoo-1a2b.so.1": _needing("libc.so.6")}, ()),
        # same directory
        ({"pkg/_c.abi3.so": _needing("libbar.so.2"), "pkg/libbar.so.2": _needing()}, ()),
        # a vendored *.libs directory without an RPATH
        ({"pkg/_c.abi3.so": _needing("libbaz.so.3"), "other.libs/libbaz.so.3": _needing()}, ()),
        # the layer's top-level lib/ (/opt/lib)
        ({"pkg/_c.abi3.so": _needing("libGL.so.1")}, ("lib/libGL.so.1",)),
        # an absolute /opt RUNPATH
        ({"pkg/_c.abi3.so": _needing("libq.so.1", rpath="/opt/vendor")}, ("vendor/libq.so.1",)),
        # the runtime image: glibc family, libstdc++, libgcc_s
        ({"pkg/_c.abi3.so": _needing("libc.so.6", "libm.so.6", "libpthread.so.0",
                                      "libstdc++.so.6", "libgcc_s.so.1", "libdl.so.2",
                                      "librt.so.1", "ld-linux-x86-64.so.2")}, ()),
    ],
)  # fmt: skip
def test_needs_resolve_inside_the_layer_or_in_the_image(
    files: dict[str, bytes], layer_names: tuple[str, ...]
) -> None:
    assert check(files, PY312_X86, layer_names=layer_names) == ()


def test_a_needed_library_for_another_machine_is_an_error() -> None:
    """A vendored library reported as other-platform on its own is fatal once something the
    target loads links it."""
    files = {"pkg/_c.abi3.so": _needing("libfoo.so.1", machine=EM_AARCH64),
             "pkg/libfoo.so.1": _needing("libc.so.6", machine=EM_X86_64)}  # fmt: skip
    violations = check(files, PY312_ARM)
    assert ("pkg/_c.abi3.so", "missing-library", "error") in rules(violations)
    assert "not a library for aarch64" in next(
        v.expected for v in violations if v.rule == "missing-library"
    )


def test_a_library_present_on_al2023_only_fails_on_al2() -> None:
    files = {"pkg/_c.abi3.so": _needing("libglib-2.0.so.0")}
    assert check(files, PY312_X86) == ()
    assert rules(check(files, PY311_X86)) == [("pkg/_c.abi3.so", "missing-library", "error")]


def test_an_unsure_library_is_a_warning_not_an_error() -> None:
    (violation,) = check({"pkg/_c.abi3.so": _needing("libsqlite3.so.0")}, PY312_X86)
    assert violation.severity == "warning"
    verify.raise_for((violation,))


def test_a_newer_glibcxx_than_the_image_libstdcxx_fails() -> None:
    def needing(version: str) -> bytes:
        return make_elf(EM_X86_64, [LIBC, Need("libstdc++.so.6", version, "_ZNSt")],
                        needed=["libstdc++.so.6"])  # fmt: skip

    assert check({"pkg/_c.abi3.so": needing("GLIBCXX_3.4.29")}, PY312_X86) == ()
    (violation,) = check({"pkg/_c.abi3.so": needing("GLIBCXX_3.4.30")}, PY312_X86)
    assert violation.rule == "missing-library" and "GLIBCXX_3.4.30" in violation.found
    (old,) = check({"pkg/_c.abi3.so": needing("GLIBCXX_3.4.26")}, PY311_X86)
    assert "3.4.24" in old.expected


def test_every_runtime_family_and_arch_has_a_sourced_list() -> None:
    for python in PYTHON_VERSIONS:
        for arch in ("x86_64", "arm64"):
            target = make_target(python, arch)
            libraries = runtime_libraries(target)
            loader = "ld-linux-x86-64.so.2" if arch == "x86_64" else "ld-linux-aarch64.so.1"
            assert {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", loader} <= (
                libraries.present
            )
            assert not libraries.present & {"libGL.so.1", "libX11.so.6", "libxcb.so.1"}
            text = Path(verify.__file__).parent / "data" / Path(libraries.data_file).name
            assert "Source" in text.read_text()


# --- libraries opened by name at run time -------------------------------------------------------


def test_python_magic_needs_libmagic_which_only_al2023_has() -> None:
    assert dlopen_table()["python-magic"] == ("libmagic.so.1",)
    owners = {"magic/__init__.py": "python-magic"}
    files = {"magic/__init__.py": b"import ctypes\n"}
    assert check(files, PY312_X86, owners=owners) == ()
    (violation,) = check(files, PY311_X86, owners=owners)
    assert violation.rule == "missing-library" and violation.found == "libmagic.so.1"
    assert violation.distribution == "python-magic"
    assert check(files, PY311_X86, owners=owners, layer_names=("lib/libmagic.so.1",)) == ()


# Laid out like selenium's wheel, which picks its manager by sys.platform and platform.machine().
SELENIUM_LIKE = {
    "multiplat/__init__.py": b"",
    "multiplat/linux/manager": make_elf(EM_X86_64, [LIBC], needed=["libc.so.6"],
                                        interpreter="/lib64/ld-linux-x86-64.so.2"),
    "multiplat/linux/manager-arm64": make_elf(EM_AARCH64, [LIBC], needed=["libc.so.6"],
                                              interpreter="/lib/ld-linux-aarch64.so.1"),
    "multiplat/macos/manager": MACHO_64 + b"\0" * 1000,
    "multiplat/windows/manager.exe": PE_DLL + b"\0" * 2000,
}  # fmt: skip


# --- end to end: build and inspect --------------------------------------------------------------


@pytest.fixture(scope="module")
def linkage_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("linkage")
    make_wheel(d, "guipkg", "1.0", tag="cp312-abi3-manylinux_2_17_x86_64", files={
        "guipkg/__init__.py": b"",
        "guipkg/_gui.abi3.so": _needing("libc.so.6", "libGL.so.1"),
    })  # fmt: skip
    make_wheel(d, "vendored", "1.0", tag="cp312-abi3-manylinux_2_17_x86_64", files={
        "vendored/__init__.py": b"",
        "vendored/_v.abi3.so": _needing("libz-9f1d.so.1.2.13", rpath="$ORIGIN/../vendored.libs"),
        "vendored.libs/libz-9f1d.so.1.2.13": _needing("libc.so.6"),
    })  # fmt: skip
    make_wheel(d, "multiplat", "1.0", files=SELENIUM_LIKE)
    with serve_index(d, tmp_path_factory.mktemp("linkage-index")) as url:
        yield url


def test_build_refuses_a_missing_library_and_allow_waives_it(
    tmp_path: Path, linkage_index: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "guipkg\n")
    argv = ["build", str(project), "--python", "3.12", "--index-url", linkage_index]
    refused = run_cli(*argv, "-o", str(tmp_path / "o1"), env=env)
    assert refused.returncode == 5, refused.output
    assert "libGL.so.1" in refused.stderr and "guipkg/_gui.abi3.so" in refused.stderr
    assert "(guipkg)" in refused.stderr and "lib/" in refused.stderr
    allowed = run_cli(*argv, "-o", str(tmp_path / "o2"), "--allow", "guipkg", "--json", env=env)
    assert allowed.returncode == 0, allowed.output
    assert "libGL.so.1" in json.loads(allowed.stdout)["builds"][0]["waived"][0]


def test_build_accepts_a_vendored_library(
    tmp_path: Path, linkage_index: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "vendored\n")
    result = run_cli("build", str(project), "--python", "3.12", "--index-url", linkage_index,
                     "-o", str(tmp_path / "o"), env=env)  # fmt: skip
    assert result.returncode == 0, result.output


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    archive.writestr(info, data)


def test_inspect_finds_the_missing_library_in_any_zip_and_accepts_lib(tmp_path: Path) -> None:
    gui = _needing("libc.so.6", "libGL.so.1")
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(bare, "w") as archive:
        _add(archive, f"{SP}/guipkg/_gui.abi3.so", gui)
    result = run_cli("inspect", str(bare), "--python", "3.12", "--arch", "x86_64", "--json")
    assert result.returncode == 5, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [(p["rule"], p["found"]) for p in problems] == [("missing-library", "libGL.so.1")]

    shipped = tmp_path / "shipped.zip"
    with zipfile.ZipFile(shipped, "w") as archive:
        _add(archive, f"{SP}/guipkg/_gui.abi3.so", gui)
        _add(archive, "lib/libGL.so.1", _needing("libc.so.6"))
    result = run_cli("inspect", str(shipped), "--python", "3.12", "--arch", "x86_64", "--json")
    assert result.returncode == 0, result.output


# --- the opt-in slimming rule -------------------------------------------------------------------


def test_the_slim_rule_removes_only_other_platform_binaries_and_reports_savings() -> None:
    from layerkit.config import SlimSettings
    from layerkit.contents import FileEntry
    from layerkit.slim.plan import plan

    entries = [FileEntry(p, len(d), False) for p, d in SELENIUM_LIKE.items()]
    opener = lambda path: io.BytesIO(SELENIUM_LIKE[path])  # noqa: E731
    off = plan(entries, opener, PY312_ARM, SlimSettings(), ())
    assert not [r for r in off.rules if r.rule == "other-platforms"]
    on = plan(entries, opener, PY312_ARM, SlimSettings(drop_other_platforms=True), ())
    (rule,) = [r for r in on.rules if r.rule == "other-platforms"]
    assert sorted(r.path for r in rule.removals) == [
        "multiplat/linux/manager",
        "multiplat/macos/manager",
        "multiplat/windows/manager.exe",
    ]
    assert rule.bytes == sum(len(SELENIUM_LIKE[r.path]) for r in rule.removals)


def test_build_reports_other_platform_binaries_and_drops_them_on_request(
    tmp_path: Path, linkage_index: str, env: dict[str, str]
) -> None:
    project = make_project(tmp_path, "multiplat\n")
    argv = ["build", str(project), "--python", "3.12", "--arch", "x86_64",
            "--index-url", linkage_index, "--json"]  # fmt: skip
    kept = run_cli(*argv, "-o", str(tmp_path / "kept"), env=env)
    assert kept.returncode == 0, kept.output
    assert "macos/manager" in kept.stderr and "not for Linux x86_64" in kept.stderr
    dropped = run_cli(*argv, "-o", str(tmp_path / "dropped"), "--drop-other-platforms", env=env)
    assert dropped.returncode == 0, dropped.output
    build = json.loads(dropped.stdout)["builds"][0]
    (rule,) = [r for r in build["slim"]["rules"] if r["rule"] == "other-platforms"]
    others = ("multiplat/linux/manager-arm64", "multiplat/macos/manager",
              "multiplat/windows/manager.exe")  # fmt: skip
    assert rule["files"] == 3
    assert rule["bytes"] == sum(len(SELENIUM_LIKE[p]) for p in others)
    with zipfile.ZipFile(build["zip"]) as archive:
        names = archive.namelist()
    assert any(n.endswith("multiplat/linux/manager") for n in names)
    assert not any(n.endswith(others) for n in names)
