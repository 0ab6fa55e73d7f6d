"""verify: shared objects (ELF, machine, glibc, ABI tag) and zip layout, over trees and zips."""

from __future__ import annotations

import ast
import io
import stat
import zipfile
from pathlib import Path

import pytest

from layerkit import elf, verify
from layerkit.contents import tree_opener
from layerkit.errors import ExitCode, VerificationError
from layerkit.safezip import open_layer_zip
from layerkit.targets import Target, make_target
from layerkit.verify import LayoutEntry, Violation
from tests.elf_fixtures import (
    C_BASELINE,
    C_NEEDS_GLIBC_2_27,
    EM_386,
    EM_AARCH64,
    EM_X86_64,
    MACHO_64,
    MACHO_UNIVERSAL,
    PE_DLL,
    Need,
    gcc_shared_object,
    header_only_elf,
    make_elf,
)

PY311_X86 = make_target("3.11", "x86_64")
PY312_X86 = make_target("3.12", "x86_64")
PY311_ARM = make_target("3.11", "arm64")
PY312_ARM = make_target("3.12", "arm64")
PY313_X86 = make_target("3.13", "x86_64")


@pytest.fixture(scope="module")
def gcc_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real x86_64 shared objects built by the host's gcc (compiled once per module)."""
    directory = tmp_path_factory.mktemp("gcc")
    return {
        "baseline": gcc_shared_object(directory, "base.so", C_BASELINE).read_bytes(),
        "memfd": gcc_shared_object(directory, "memfd.so", C_NEEDS_GLIBC_2_27).read_bytes(),
    }


def check(
    files: dict[str, bytes],
    target: Target,
    owners: dict[str, str] | None = None,
    waived: tuple[str, ...] = (),
) -> tuple[Violation, ...]:
    def opener(path: str) -> io.BytesIO:
        return io.BytesIO(files[path])

    return verify.check_shared_objects(
        list(files), opener, target, owners=owners or {}, waived=waived
    )


def rules(violations: tuple[Violation, ...]) -> list[tuple[str, str]]:
    return [(v.path, v.rule) for v in violations]


# --- reading shared objects --------------------------------------------------------------------


def test_real_gcc_objects_report_machine_and_newest_glibc(gcc_objects: dict[str, bytes]) -> None:
    base = elf.read_shared_object(io.BytesIO(gcc_objects["baseline"]))
    memfd = elf.read_shared_object(io.BytesIO(gcc_objects["memfd"]), glibc_limit=(2, 26))
    assert (base.format, base.machine) == ("elf", "EM_X86_64")
    assert base.glibc is not None and base.glibc < (2, 26)
    assert memfd.glibc == (2, 27)
    assert memfd.glibc_symbols == ("memfd_create",)


def test_symbols_are_only_listed_above_the_limit(gcc_objects: dict[str, bytes]) -> None:
    info = elf.read_shared_object(io.BytesIO(gcc_objects["memfd"]), glibc_limit=(2, 34))
    assert info.glibc == (2, 27)
    assert info.glibc_symbols == ()


def test_written_elf_reports_every_library_and_ignores_private_versions() -> None:
    data = make_elf(
        EM_AARCH64,
        [
            Need("libc.so.6", "GLIBC_2.17", "strlen"),
            Need("libc.so.6", "GLIBC_PRIVATE", "__libc_internal"),
            Need("libm.so.6", "GLIBC_2.29", "exp"),
            Need("libm.so.6", "GLIBC_2.29", "log"),
            Need("libpthread.so.0", "GLIBC_2.3.4", "pthread_x"),
        ],
    )
    info = elf.read_shared_object(io.BytesIO(data), glibc_limit=(2, 26))
    assert info.machine == "EM_AARCH64"
    assert info.glibc == (2, 29)
    assert info.glibc_symbols == ("exp", "log")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x7fELF\x02\x01", "elf"),
        (MACHO_64, "mach-o"),
        (b"\xfe\xed\xfa\xce", "mach-o"),
        (MACHO_UNIVERSAL, "mach-o-universal"),
        (PE_DLL, "pe"),
        (b"/* GNU ld script */", "unknown"),
        (b"", "unknown"),
    ],
)
def test_file_format_from_magic(head: bytes, expected: str) -> None:
    assert elf.file_format(head) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so", True),
        ("cryptography/hazmat/bindings/_rust.abi3.so", True),
        ("numpy.libs/libgfortran-040039e1.so.5.0.0", True),
        ("pkg/_speedups.so", True),
        ("pkg/_speedups.pyd", True),
        ("pkg/libthing.dylib", True),
        ("pkg/so_what.py", False),
        ("pkg/data.so.txt", False),
        ("pkg/notes.socket", False),
    ],
)
def test_is_shared_object(path: str, expected: bool) -> None:
    assert elf.is_shared_object(path) is expected


@pytest.mark.parametrize(
    ("path", "tag"),
    [
        ("a/_x.cpython-312-x86_64-linux-gnu.so", "cpython-312-x86_64-linux-gnu"),
        ("a/_x.cpython-313t-x86_64-linux-gnu.so", "cpython-313t-x86_64-linux-gnu"),
        ("a/_x.cpython-312-darwin.so", "cpython-312-darwin"),
        ("a/_x.pypy39-pp73-x86_64-linux-gnu.so", "pypy39-pp73-x86_64-linux-gnu"),
        ("a/_x.abi3.so", "abi3"),
        ("a/_x.so", None),
        ("a/libfoo.so.1", None),
        ("a/lib.foo.so", None),
    ],
)
def test_extension_abi_tag(path: str, tag: str | None) -> None:
    assert elf.extension_abi_tag(path) == tag


# --- the shared-object rules -------------------------------------------------------------------


def test_baseline_x86_object_passes_every_x86_target(gcc_objects: dict[str, bytes]) -> None:
    files = {"pkg/_ext.cpython-311-x86_64-linux-gnu.so": gcc_objects["baseline"]}
    assert check(files, PY311_X86) == ()
    files = {"pkg/_ext.abi3.so": gcc_objects["baseline"], "pkg/_plain.so": gcc_objects["baseline"]}
    assert check(files, PY312_X86) == ()


def test_glibc_newer_than_the_runtime_is_a_violation(gcc_objects: dict[str, bytes]) -> None:
    files = {"fastio/_io.abi3.so": gcc_objects["memfd"]}
    (violation,) = check(files, PY311_X86, owners={"fastio/_io.abi3.so": "fastio"})
    assert violation.rule == "glibc"
    assert violation.distribution == "fastio"
    assert violation.found == "GLIBC_2.27 (for memfd_create)"
    assert "glibc 2.26" in violation.expected and "Amazon Linux 2" in violation.expected
    assert "pin an older fastio" in violation.hint
    assert "python3.12+" in violation.hint
    # Amazon Linux 2023 (glibc 2.34) runs it.
    assert check(files, PY312_X86) == ()


def test_glibc_newer_than_any_runtime_suggests_only_an_older_version() -> None:
    files = {
        "new/_n.abi3.so": make_elf(EM_AARCH64, [Need("libc.so.6", "GLIBC_2.36", "arc4random")])
    }
    (violation,) = check(files, PY312_ARM)
    assert violation.found == "GLIBC_2.36 (for arc4random)"
    assert "glibc 2.34" in violation.expected
    assert "python3.12+" not in violation.hint


def test_arm64_glibc_boundary() -> None:
    files = {"p/_a.abi3.so": make_elf(EM_AARCH64, [Need("libc.so.6", "GLIBC_2.26", "x")])}
    assert check(files, PY311_ARM) == ()
    files = {"p/_a.abi3.so": make_elf(EM_AARCH64, [Need("libc.so.6", "GLIBC_2.27", "x")])}
    assert rules(check(files, PY311_ARM)) == [("p/_a.abi3.so", "glibc")]


@pytest.mark.parametrize(
    ("machine", "target", "found"),
    [
        (EM_AARCH64, PY312_X86, "AArch64"),
        (EM_X86_64, PY312_ARM, "x86-64"),
        (EM_386, PY312_X86, "x86 (32-bit)"),
    ],
)
def test_wrong_machine_is_a_violation(machine: int, target: Target, found: str) -> None:
    files = {"pkg/_ext.abi3.so": make_elf(machine)}
    (violation,) = check(files, target, owners={"pkg/_ext.abi3.so": "pkg"})
    assert violation.rule == "machine"
    assert violation.found == found
    assert target.arch in violation.expected
    assert target.machine in violation.hint


def test_header_only_elf_is_enough_for_the_machine_check() -> None:
    assert rules(check({"x/_a.so": header_only_elf(EM_AARCH64)}, PY312_X86)) == [
        ("x/_a.so", "machine")
    ]
    assert check({"x/_a.so": header_only_elf(EM_AARCH64)}, PY312_ARM) == ()


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (MACHO_64, "a Mach-O file (macOS)"),
        (MACHO_UNIVERSAL, "a universal Mach-O file (macOS)"),
        (PE_DLL, "a PE file (Windows)"),
        (b"not a binary at all", "not an ELF file"),
    ],
)
def test_non_elf_shared_objects_are_violations(content: bytes, found: str) -> None:
    (violation,) = check({"pkg/_speed.so": content}, PY312_X86, owners={"pkg/_speed.so": "pkg"})
    assert violation.rule == "not-elf"
    assert violation.found == found
    assert "Linux x86_64" in violation.expected
    assert "manylinux" in violation.hint


def test_a_corrupt_elf_is_a_violation_not_a_crash() -> None:
    (violation,) = check({"pkg/_bad.so": b"\x7fELF\x02\x01\x01" + b"\xff" * 20}, PY312_X86)
    assert violation.rule == "not-elf"
    assert violation.found.startswith("an ELF file that cannot be read")


def test_windows_extension_is_flagged() -> None:
    assert rules(check({"pkg/_speed.pyd": PE_DLL}, PY312_X86)) == [("pkg/_speed.pyd", "not-elf")]


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("_x.cpython-311-x86_64-linux-gnu.so", PY312_X86),
        ("_x.cpython-312-aarch64-linux-gnu.so", PY312_X86),
        ("_x.cpython-313t-x86_64-linux-gnu.so", PY313_X86),
        ("_x.cpython-312d-x86_64-linux-gnu.so", PY312_X86),
        ("_x.pypy39-pp73-x86_64-linux-gnu.so", PY312_X86),
    ],
)
def test_extension_for_another_python_abi_is_a_violation(
    name: str, target: Target, gcc_objects: dict[str, bytes]
) -> None:
    path = f"pkg/{name}"
    (violation,) = check({path: gcc_objects["baseline"]}, target)
    assert violation.rule == "python-abi"
    assert violation.found == name.split(".")[1]
    assert violation.expected.startswith(
        f"cpython-{target.cpython_abi[2:]}-x86_64-linux-gnu or abi3"
    )
    assert target.runtime in violation.hint


def test_matching_extension_suffixes_pass(gcc_objects: dict[str, bytes]) -> None:
    for target in (PY311_X86, PY312_X86, PY313_X86):
        path = f"pkg/_x{target.extension_suffix}"
        assert check({path: gcc_objects["baseline"]}, target) == ()


def test_non_shared_objects_are_not_read() -> None:
    def opener(path: str) -> io.BytesIO:
        raise AssertionError(f"read {path}")

    assert (
        verify.check_shared_objects(["pkg/a.py", "pkg/b.txt"], opener, PY312_X86, owners={}) == ()
    )


# --- waivers and the error ---------------------------------------------------------------------


def test_waived_distribution_is_reported_but_does_not_fail(gcc_objects: dict[str, bytes]) -> None:
    files = {"a_b/_x.abi3.so": gcc_objects["memfd"], "other/_y.abi3.so": gcc_objects["memfd"]}
    owners = {"a_b/_x.abi3.so": "A_B", "other/_y.abi3.so": "other"}
    violations = check(files, PY311_X86, owners=owners, waived=("a.b",))
    assert [(v.distribution, v.waived) for v in violations] == [("A_B", True), ("other", False)]
    assert verify.blocking(violations) == (violations[1],)
    with pytest.raises(VerificationError) as raised:
        verify.raise_for(violations)
    assert "other/_y.abi3.so" in raised.value.message
    assert "a_b/_x.abi3.so" not in raised.value.message
    verify.raise_for(check(files, PY311_X86, owners=owners, waived=("a-b", "OTHER")))


def test_unowned_files_cannot_be_waived(gcc_objects: dict[str, bytes]) -> None:
    violations = check({"x/_x.abi3.so": gcc_objects["memfd"]}, PY311_X86, waived=("x",))
    assert [v.waived for v in violations] == [False]


def test_error_names_file_distribution_needs_offers_and_fix(gcc_objects: dict[str, bytes]) -> None:
    files = {"fastio/_io.abi3.so": gcc_objects["memfd"]}
    violations = check(files, PY311_X86, owners={"fastio/_io.abi3.so": "fastio"})
    with pytest.raises(VerificationError) as raised:
        verify.raise_for(violations, label="layer deps (python3.11-x86_64)")
    error = raised.value
    assert error.exit_code == ExitCode.VERIFY
    assert int(error.exit_code) == 5
    assert error.message == (
        "1 problem would stop layer deps (python3.11-x86_64) from working on its target:\n"
        "  - fastio/_io.abi3.so (fastio) needs GLIBC_2.27 (for memfd_create), but the target "
        "offers glibc 2.26 (python3.11 on x86_64, Amazon Linux 2) -> pin an older fastio whose "
        "wheel is manylinux_2_26 or older, or target python3.12+ (Amazon Linux 2023, glibc 2.34)"
    )
    assert error.hint is not None
    assert "--allow fastio" in error.hint


def test_long_lists_are_cut_with_a_count() -> None:
    violations = tuple(
        Violation(f"p/{i}.so", "p", "machine", "AArch64", "x86-64", "fix") for i in range(30)
    )
    with pytest.raises(VerificationError) as raised:
        verify.raise_for(violations)
    message = raised.value.message
    assert message.startswith("30 problems")
    assert message.count("\n  - ") == verify.MAX_LISTED + 1
    assert message.endswith("... and 5 more")


def test_nothing_to_raise() -> None:
    verify.raise_for(())


# --- trees and zips ----------------------------------------------------------------------------


def test_zip_and_tree_give_the_same_violations(
    tmp_path: Path, gcc_objects: dict[str, bytes]
) -> None:
    files = {
        "ok/_a.cpython-312-x86_64-linux-gnu.so": gcc_objects["baseline"],
        "arm/_b.abi3.so": make_elf(EM_AARCH64),
        "mac/_c.cpython-312-darwin.so": MACHO_64,
        "ok/__init__.py": b"",
    }
    root = tmp_path / "site"
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    prefix = PY312_X86.site_packages
    archive_path = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for path, content in files.items():
            archive.writestr(f"{prefix}/{path}", content)

    from_tree = verify.check_shared_objects(list(files), tree_opener(root), PY312_X86, owners={})
    with open_layer_zip(archive_path) as archive:
        entries = verify.zip_file_entries(archive, prefix)
        from_zip = verify.check_shared_objects(
            [e.path for e in entries], verify.zip_opener(archive, prefix), PY312_X86, owners={}
        )
    assert from_tree == from_zip
    assert rules(from_zip) == [
        ("arm/_b.abi3.so", "machine"),
        ("mac/_c.cpython-312-darwin.so", "not-elf"),
        ("mac/_c.cpython-312-darwin.so", "python-abi"),
    ]
    assert sorted(e.path for e in entries) == sorted(files)


# --- layout ------------------------------------------------------------------------------------

SP = PY312_X86.site_packages
FILE = stat.S_IFREG | 0o644
DIR = stat.S_IFDIR | 0o755


def layout(*entries: LayoutEntry) -> list[tuple[str, str]]:
    return [(v.path, v.rule) for v in verify.check_layout(entries, PY312_X86)]


def test_a_good_layer_has_no_layout_violations() -> None:
    assert (
        layout(
            LayoutEntry("python/", DIR),
            LayoutEntry("python/lib/", DIR),
            LayoutEntry("python/lib/python3.12/", DIR),
            LayoutEntry(f"{SP}/", DIR),
            LayoutEntry(f"{SP}/pkg/__init__.py", FILE),
            LayoutEntry(f"{SP}/pkg/tool", stat.S_IFREG | 0o755),
            LayoutEntry(f"{SP}/pkg/link.py", stat.S_IFLNK | 0o777, "__init__.py"),
            LayoutEntry(f"{SP}/pkg/up.py", stat.S_IFLNK | 0o777, "../other/x.py"),
            LayoutEntry("python/toplevel_module.py", FILE),
            LayoutEntry(f"{SP}/pkg/root", stat.S_IFLNK | 0o777, "../../../../../python"),
        )
        == []
    )


def test_only_python_at_the_root() -> None:
    assert layout(LayoutEntry("bin/tool", FILE), LayoutEntry("README.txt", FILE)) == [
        ("bin/tool", "root"),
        ("README.txt", "root"),
    ]


def test_version_directory_must_match_the_target() -> None:
    violations = verify.check_layout(
        [LayoutEntry("python/lib/python3.11/site-packages/pkg/__init__.py", FILE)], PY312_X86
    )
    assert [(v.rule, v.found, v.expected) for v in violations] == [
        ("python-version", "python/lib/python3.11/", "python/lib/python3.12/ (python3.12)")
    ]


def test_every_entry_must_be_world_readable() -> None:
    assert layout(
        LayoutEntry(f"{SP}/secret.py", stat.S_IFREG | 0o640),
        LayoutEntry(f"{SP}/private/", stat.S_IFDIR | 0o750),
        LayoutEntry(f"{SP}/listable/", stat.S_IFDIR | 0o744),
        LayoutEntry(f"{SP}/ok.py", stat.S_IFREG | 0o444),
    ) == [
        (f"{SP}/secret.py", "permissions"),
        (f"{SP}/private/", "permissions"),
        (f"{SP}/listable/", "permissions"),
    ]


def test_unknown_modes_are_not_judged() -> None:
    assert layout(LayoutEntry(f"{SP}/from_windows.py", 0)) == []


@pytest.mark.parametrize(
    "link",
    ["/etc/passwd", "../../../../../../etc/passwd", "../../../../../../x", "../../../../../.."],
)
def test_absolute_or_escaping_symlinks_are_violations(link: str) -> None:
    assert layout(LayoutEntry(f"{SP}/pkg/evil", stat.S_IFLNK | 0o777, link)) == [
        (f"{SP}/pkg/evil", "symlink")
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/python/abs.py", "an absolute name"),
        ("../outside.py", "a name containing '..'"),
        ("python/../../outside.py", "a name containing '..'"),
        ("python\\..\\..\\outside.py", "a name containing '..'"),
        ("C:/windows.py", "an absolute name"),
        ("\\\\server\\share", "an absolute name"),
    ],
)
def test_path_traversal_names_are_violations(name: str, reason: str) -> None:
    assert verify.unsafe_name_reason(name) == reason
    (violation,) = verify.check_layout([LayoutEntry(name, FILE)], PY312_X86)
    assert (violation.rule, violation.found) == ("unsafe-name", reason)


def test_safe_names_pass_the_traversal_check() -> None:
    for name in ("python/a..b.py", "python/..hidden", "python/x/"):
        assert verify.unsafe_name_reason(name) is None


def test_duplicate_names_are_violations() -> None:
    assert layout(LayoutEntry(f"{SP}/a.py", FILE), LayoutEntry(f"{SP}/a.py", FILE)) == [
        (f"{SP}/a.py", "duplicate")
    ]


def test_layout_entries_from_a_zip_keep_modes_and_links(tmp_path: Path) -> None:
    archive_path = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for name, mode, data in [
            ("python/", DIR, b""),
            (f"{SP}/ok.py", FILE, b""),
            (f"{SP}/private.py", stat.S_IFREG | 0o600, b""),
            (f"{SP}/escape", stat.S_IFLNK | 0o777, b"/etc/passwd"),
        ]:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            archive.writestr(info, data)
        windows = zipfile.ZipInfo(f"{SP}/windows.py")
        windows.create_system = 0
        archive.writestr(windows, b"")
    with open_layer_zip(archive_path) as layer_zip:
        entries = verify.layout_entries_from_zip(layer_zip)
    assert entries[3] == LayoutEntry(
        f"{SP}/escape",
        stat.S_IFLNK | 0o777,
        "/etc/passwd",
        "is absolute (the layer is extracted to /opt)",
    )
    assert entries[4].mode == 0
    assert [(v.path, v.rule) for v in verify.check_layout(entries, PY312_X86)] == [
        (f"{SP}/private.py", "permissions"),
        (f"{SP}/escape", "symlink"),
    ]


def test_layout_entries_from_a_tree(tmp_path: Path) -> None:
    site = tmp_path / SP
    site.mkdir(parents=True)
    (site / "ok.py").write_text("")
    (site / "private.py").write_text("")
    (site / "private.py").chmod(0o600)
    (site / "inside").symlink_to("ok.py")
    (site / "outside").symlink_to("/etc/hostname")
    (tmp_path / "stray.txt").write_text("")
    entries = verify.layout_entries_from_tree(tmp_path)
    assert LayoutEntry("python/", (tmp_path / "python").stat().st_mode) in entries
    assert [(v.path, v.rule) for v in verify.check_layout(entries, PY312_X86)] == [
        (f"{SP}/outside", "symlink"),
        (f"{SP}/private.py", "permissions"),
        ("stray.txt", "root"),
    ]


# --- purity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        "verify.py",
        "slim/plan.py",
        "slim/apply.py",
        "slim/strip.py",
        "slim/compile.py",
        "slim/tree.py",
    ],
)
def test_module_does_not_import_process_aws_or_ui_libraries(repo_root: Path, module: str) -> None:
    tree = ast.parse((repo_root / "layerkit" / module).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"subprocess", "boto3", "botocore", "typer", "rich", "shutil"}
