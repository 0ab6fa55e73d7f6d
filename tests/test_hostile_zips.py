"""Hostile layer zips (issue 19): `inspect` judges what an extractor writes, or refuses cleanly.

Each zip is laid out byte by byte (tests/zipcraft.py) so that one header field lies at a time.
Exit 5 (VerificationError) names the entries an extractor could read differently; exit 2
(InputFileError) means the container itself cannot be parsed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from layerkit import archive
from layerkit.cli import run
from layerkit.contents import METADATA_READ_LIMIT, FileEntry, distributions_read_with
from layerkit.manifest import Manifest
from layerkit.safezip import normalise, open_layer_zip
from tests.aws_support import write_layer_zip
from tests.elf_fixtures import EM_AARCH64, EM_X86_64, make_elf
from tests.faultproxy import FaultProxy
from tests.support import assert_clean_failure, run_cli
from tests.test_bad_inputs import EU
from tests.zipcraft import SITE, Entry, craft, link

TARGET = ("--python", "3.12", "--arch", "x86_64")


def _inspect(
    capsys: pytest.CaptureFixture[str], path: Path, *args: str
) -> tuple[int, dict[str, Any], str]:
    code = run(["inspect", str(path), *TARGET, *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def _write(tmp_path: Path, data: bytes, name: str = "layer.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, entries: list[Entry], *needles: str
) -> str:
    code, view, err = _inspect(capsys, _write(tmp_path, craft(entries)))
    assert code == 5, err
    assert view == {}  # refused before any judgement is printed
    assert "extracted differently" in err
    for needle in needles:
        assert needle in err
    return err


def test_normalise_is_what_an_extractor_writes() -> None:
    assert normalise("python//lib/./x/") == "python/lib/x"


@pytest.mark.parametrize(
    "spelling",
    ["python//lib/python3.12/site-packages/a.py", "python/./lib/python3.12/site-packages/a.py",
     f"{SITE}/./a.py", f"{SITE}/a.py/"],
)  # fmt: skip
def test_a_second_spelling_of_a_path_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    entries = [Entry(f"{SITE}/a.py", b"checked = True\n"), Entry(spelling, b"import os\n")]
    _refused(capsys, tmp_path, entries, "appears twice once normalised")


def test_a_name_both_file_and_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [Entry(f"{SITE}/a", b"x"), Entry(f"{SITE}/a/b.py", b"y")]
    _refused(capsys, tmp_path, entries, f"{SITE}/a/b.py", "which is a file")


def test_a_name_below_a_symlink_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [link(f"{SITE}/d", "."), Entry(f"{SITE}/d/x.py", b"y")]
    _refused(capsys, tmp_path, entries, "a symlink an extractor writes through")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"local_name": f"{SITE}/b.py".encode()}, "name"),
        ({"local": {"usize": 3}}, "CRC or sizes"),
        ({"local": {"crc": 1}}, "CRC or sizes"),
        ({"central": {"flags": 0x2}}, "flags"),
        ({"local": {"method": 0}}, "method"),
    ],
)
def test_local_and_central_headers_must_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], needle: str
) -> None:
    entry = Entry(f"{SITE}/a.py", b"a = 1\n" * 50)
    for key, value in change.items():
        setattr(entry, key, value)
    _refused(capsys, tmp_path, [entry], "local header disagrees", needle)


def test_many_records_pointing_at_one_entry_are_refused_without_inflating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = Entry(f"{SITE}/big.bin", bytes(50 << 20))
    data = bytearray(craft([big]))
    # Rewrite: one local entry, 2,000 central records all pointing at offset 0.
    local_end = data.index(b"PK\x01\x02")
    record_end = data.index(b"PK\x05\x06")
    record = bytes(data[local_end:record_end])
    name_at = 46
    records = bytearray()
    for i in range(2000):
        name = f"{SITE}/c{i:04}.bin".encode()
        fixed = bytearray(record[:name_at])
        struct.pack_into("<H", fixed, 28, len(name))
        records += fixed + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2000, 2000, len(records), local_end, 0)
    path = _write(tmp_path, bytes(data[:local_end]) + bytes(records) + end)
    code, _, err = _inspect(capsys, path)
    assert code == 5, err
    assert "overlaps the entry before it" in err


def test_data_prepended_or_appended_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [Entry(f"{SITE}/a.py", b"a")]
    for data in (craft(entries, prefix=b"#!/bin/sh\n"), craft(entries) + b"junk"):
        code, _, err = _inspect(capsys, _write(tmp_path, data))
        assert code in (2, 5), err
        assert "error:" in err


def test_a_gap_that_could_hide_an_entry_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hidden = craft([Entry(f"{SITE}/hidden.py", b"evil")])
    hidden_local = hidden[: hidden.index(b"PK\x01\x02")]
    visible = Entry(f"{SITE}/a.py", b"a", offset=len(hidden_local))
    data = craft([visible], prefix=hidden_local)
    # the central directory offset must account for the hidden bytes: patch the end record
    end_at = data.rindex(b"PK\x05\x06")
    patched = bytearray(data)
    cd_offset = struct.unpack_from("<I", patched, end_at + 16)[0]
    struct.pack_into("<I", patched, end_at + 16, cd_offset + len(hidden_local))
    code, _, err = _inspect(capsys, _write(tmp_path, bytes(patched)))
    assert code == 5, err
    assert "gap" in err


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        (Entry(f"{SITE}/a.py", b"a", flags=0x1), "is encrypted"),
        (Entry(f"{SITE}/a.py", b"a", method=9, local={"method": 9}, central={"method": 9}),
         "compression method 9"),
        (Entry(f"{SITE}/\xff.py".encode("latin-1"), b"a", flags=0x800), "not valid UTF-8"),
        (Entry(f"{SITE}/\xe9.py".encode("latin-1"), b"a"), "without the UTF-8 flag"),
        (Entry(f"{SITE}/a.py", b"a",
               extra=struct.pack("<HHB", 0x7075, 5 + 8, 1) + struct.pack("<I", 0) + b"other.py"),
         "Unicode Path field"),
        (Entry(f"{SITE}/a\\b.py", b"a"), "backslash"),
        (Entry(f"{SITE}/fifo.so", b"", method=0, mode=stat.S_IFIFO | 0o644), "FIFO"),
    ],
)  # fmt: skip
def test_entries_extractors_disagree_on_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: Entry, needle: str
) -> None:
    _refused(capsys, tmp_path, [entry], needle)


def test_a_size_field_that_lies_is_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = {"usize": 10}
    entry = Entry(f"{SITE}/blob.so", bytes(1 << 20), local=size, central=size)
    _refused(capsys, tmp_path, [entry], "more than its declared 10 bytes")


@pytest.mark.parametrize("cut", [(40, 140), (0, 10), (60, 61)])
def test_bytes_cut_from_the_middle_are_refused_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cut: tuple[int, int]
) -> None:
    data = craft([Entry(f"{SITE}/a.py", b"a" * 5000), Entry(f"{SITE}/b.py", b"b" * 5000)])
    code, _, err = _inspect(capsys, _write(tmp_path, data[: cut[0]] + data[cut[1] :]))
    assert code in (2, 5), err  # damaged container, or offsets that no longer agree
    assert err.startswith("error:") and "hint:" in err


def test_a_symlink_chain_leaving_the_tree_is_a_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [
        Entry(f"{SITE}/ok.py", b""),
        link(f"{SITE}/a", ".."),
        link(f"{SITE}/b", "a/../../../../etc/passwd"),
    ]
    code, view, err = _inspect(capsys, _write(tmp_path, craft(entries)))
    assert code == 5, err
    problems = {(p["path"], p["rule"]) for p in view["problems"]}
    assert (f"{SITE}/b", "symlink") in problems


def test_a_symlink_loop_is_a_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = [Entry(f"{SITE}/ok.py", b""), link(f"{SITE}/x", "y"), link(f"{SITE}/y", "x")]
    code, view, err = _inspect(capsys, _write(tmp_path, craft(entries)))
    assert code == 5, err
    assert "loops" in json.dumps(view["problems"])


def test_a_so_symlink_is_checked_as_the_file_it_points_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [
        Entry(f"{SITE}/good.so", make_elf(EM_X86_64)),
        Entry(f"{SITE}/wrong-arch.elf", make_elf(EM_AARCH64)),
        link(f"{SITE}/x.so", "wrong-arch.elf"),
    ]
    code, view, err = _inspect(capsys, _write(tmp_path, craft(entries)))
    assert code == 5, err
    problems = {(p["path"], p["rule"], p["severity"]) for p in view["problems"]}
    # the link is loaded as an extension: an error; the ELF it points at, seen by its magic bytes
    # under a name nothing loads, is a binary for another platform: a warning
    assert problems == {
        ("x.so", "machine", "error"),
        ("wrong-arch.elf", "other-platform", "warning"),
    }


def test_files_outside_site_packages_count_against_the_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [Entry(f"{SITE}/a.py", b"a"), Entry("python/blob.bin", bytes(3 << 20))]
    code, view, err = _inspect(capsys, _write(tmp_path, craft(entries)), "--budget", "2MB")
    assert code == 3, err
    assert view["unzipped_bytes"] == (3 << 20) + 1
    assert {"path": "/opt/python/blob.bin", "bytes": 3 << 20} in view["largest_files"]


def _zip_with_manifest(tmp_path: Path, fields: dict[str, object]) -> Path:
    """A one-file layer zip with a manifest beside it, `fields` overriding the manifest's."""
    zip_path = _write(tmp_path, craft([Entry(f"{SITE}/a.py", b"a")]))
    manifest = Manifest(
        "0.1.0", "x", "3.12", "x86_64", "python3.12", "cp312", "2.26", "uv", "0.8", "layer.zip",
        "0" * 64, "", 1, 1, 1, 1000, (),
    )  # fmt: skip
    document = {**json.loads(manifest.to_json()), **fields}
    zip_path.with_suffix(".json").write_text(json.dumps(document))
    return zip_path


def test_a_manifest_beside_the_zip_cannot_raise_the_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zip_path = _zip_with_manifest(tmp_path, {"budget_bytes": 10**12})
    code, view, err = _inspect(capsys, zip_path)
    assert code == 0, err
    assert view["budget_bytes"] == 262_144_000


def test_a_bomb_stops_measuring_at_the_cap(tmp_path: Path) -> None:
    data = craft([Entry(f"{SITE}/zeros.so", bytes(8 << 20))])
    with open_layer_zip(_write(tmp_path, data)) as archive:
        assert archive.measure(1 << 20) is False
        assert archive.measure(16 << 20) is True


def test_open_never_returns_more_than_declared_and_checks_the_crc(tmp_path: Path) -> None:
    entry = Entry(f"{SITE}/a.py", b"abc" * 1000, local={"crc": 7}, central={"crc": 7})
    with open_layer_zip(_write(tmp_path, craft([entry]))) as archive:
        with pytest.raises(Exception, match="fails its CRC check"):
            archive.open(f"{SITE}/a.py")
        assert archive.read_head(f"{SITE}/a.py", 5) == b"abcab"


def test_publish_refuses_a_zip_an_extractor_reads_differently(
    faulty_aws_env: dict[str, str], fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    zip_path, _ = write_layer_zip(tmp_path)
    data = zip_path.read_bytes()
    # a second spelling of the module after the first: same sha in the manifest, so only the
    # reader can tell
    twin = craft([Entry(f"{SITE}/mod.py", b"VALUE = 1\n"), Entry(f"{SITE}//mod.py", b"EVIL\n")])
    zip_path.write_bytes(twin)
    manifest = zip_path.with_suffix(".json")
    text = manifest.read_text().replace(
        hashlib.sha256(data).hexdigest(), hashlib.sha256(twin).hexdigest()
    )
    manifest.write_text(text)
    result = run_cli("publish", str(zip_path), "--direct", *EU, env=faulty_aws_env)
    assert_clean_failure(result, 5, "appears twice once normalised")
    assert fault_proxy.operations() == []


# --- bounded time and memory ---------------------------------------------------------------------


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging for minutes) when the block runs past `seconds`."""

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_module_of_80000_dots_is_read_in_linear_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [
        Entry(f"{SITE}/pkg/__init__.py", b""),
        Entry(f"{SITE}/pkg/tests/__init__.py", b""),
        Entry(
            f"{SITE}/pkg/test_me.py",  # names the word: its imports are read
            b"# tests\nfrom " + b"." * 80_000 + b"\nfrom a import (x\n" * 20_000,
        ),
    ]
    with _deadline(20):  # 82 s before the fix
        code, view, err = _inspect(capsys, _write(tmp_path, craft(entries)))
    assert code == 0, err
    assert view["file_count"] == 3


def test_a_module_of_200000_blanks_after_from_is_read_in_linear_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = b"# tests\nfrom" + b" " * 200_000 + b"\nfrom a import (x\n" * 20_000
    entries = [
        Entry(f"{SITE}/pkg/__init__.py", b""),
        Entry(f"{SITE}/pkg/tests/__init__.py", b""),
        Entry(f"{SITE}/pkg/mod.py", source),  # names the word: its imports are read
    ]
    with _deadline(20):  # about a minute before the fix (80,000 blanks took 9.8 s)
        code, view, err = _inspect(capsys, _write(tmp_path, craft(entries)))
    assert code == 0, err
    assert view["file_count"] == 3


def _layer_dir(tmp_path: Path) -> Path:
    """The site-packages of a layer directory at tmp_path/layer."""
    site = tmp_path / "layer" / SITE
    site.mkdir(parents=True)
    return site


def test_a_fifo_named_so_in_a_directory_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _layer_dir(tmp_path)
    (site / "ok.py").write_text("")
    os.mkfifo(site / "evil.so")
    with _deadline(20):  # opening the FIFO blocked forever before the fix
        code, view, err = _inspect(capsys, tmp_path / "layer")
    assert code == 0, err
    assert view["file_count"] == 1


def test_a_symlink_loop_in_a_directory_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _layer_dir(tmp_path)
    (site / "a").symlink_to("b")
    (site / "b").symlink_to("a")
    code, _, err = _inspect(capsys, tmp_path / "layer")
    assert code == 5, err
    assert "loops or points at nothing" in err


def test_dist_info_files_are_read_with_a_cap() -> None:
    asked: dict[str, int] = {}
    huge_metadata = b"Metadata-Version: 2.1\nName: big\nVersion: 1\n\n" + b"x" * (4 << 20)

    def read(member: str, limit: int) -> bytes:
        asked[member] = limit
        return (huge_metadata if member.endswith("METADATA") else b"big/x.py,,\n")[:limit]

    entries = [FileEntry("big-1.dist-info/METADATA", len(huge_metadata)),
               FileEntry("big-1.dist-info/RECORD", 11), FileEntry("big/x.py", 1)]  # fmt: skip
    (dist,) = distributions_read_with(read, entries)
    assert (dist.name, dist.version) == ("big", "1")
    assert asked["big-1.dist-info/METADATA"] <= METADATA_READ_LIMIT + 1


def test_a_record_field_over_csvs_limit_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = b'"' + b"a" * (129 << 10) + b'",,\n'
    entries = [
        Entry(f"{SITE}/x-1.dist-info/METADATA", b"Name: x\nVersion: 1\n"),
        Entry(f"{SITE}/x-1.dist-info/RECORD", record),
    ]
    code, _, err = _inspect(capsys, _write(tmp_path, craft(entries)))
    assert code == 5, err
    assert "RECORD cannot be parsed" in err


# --- names are shown, never obeyed ---------------------------------------------------------------


def test_names_are_escaped_and_never_markup_in_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "[/oops][link=https://evil.example]x[/link]\x1b]8;;https://evil.example\x07y\r\x1b[2J"
    dist_info = f"{SITE}/evil-1.0.dist-info"
    entries = [
        Entry(f"{dist_info}/METADATA", f"Name: {evil}\nVersion: 1.0\n".encode()),
        Entry(f"{dist_info}/RECORD", b"evil-1.0.dist-info/METADATA,,\n"),
        Entry(f"{SITE}/\x1b[31mred\x07.py", b""),
    ]
    code = run(["inspect", str(_write(tmp_path, craft(entries))), *TARGET])
    out = capsys.readouterr().out
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    # shown literally (the table cuts long names with an ellipsis at 80 columns)
    assert "[/oops][link=https://evil.e" in out
    assert "\\x1b[31mred\\x07.py" in out


def test_json_keeps_names_raw_but_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"{SITE}/\x1b[31mred.py"
    code, view, _ = _inspect(capsys, _write(tmp_path, craft([Entry(name, b"x")])))
    assert code == 0
    assert {"path": "\x1b[31mred.py", "bytes": 1} in view["largest_files"]


def test_errors_show_control_characters_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [Entry(f"{SITE}/\x1b]0;pwned\x07.py", b"a"), Entry(f"{SITE}//\x1b]0;pwned\x07.py")]
    err = _refused(capsys, tmp_path, entries, "\\x1b]0;pwned\\x07.py")
    assert "\x1b" not in err


# --- no internal errors on bad input ---------------------------------------------------------


def _clean_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int, needle: str
) -> None:
    assert run(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "internal error" not in err
    assert needle in err


def test_a_manifest_with_wrong_types_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zip_path = _zip_with_manifest(tmp_path, {"budget_bytes": "lots"})
    _clean_error(capsys, ["inspect", str(zip_path)], 2, "'budget_bytes' must be int, got str")


def test_a_400_digit_budget_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zip_path = _write(tmp_path, craft([Entry(f"{SITE}/a.py", b"a")]))
    _clean_error(capsys, ["inspect", str(zip_path), "--budget", "9" * 400], 2, "too large")


def test_a_tool_key_that_is_not_a_table_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("tool = 1\n")
    (tmp_path / "requirements.txt").write_text("x\n")
    argv = ["build", str(tmp_path), "-r", str(tmp_path / "requirements.txt")]
    _clean_error(capsys, argv, 2, "[tool] must be a table")


def test_a_fifo_given_as_the_zip_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "layer.zip"
    os.mkfifo(fifo)
    with _deadline(20):
        _clean_error(capsys, ["inspect", str(fifo), *TARGET], 2, "not a regular file")


@pytest.mark.parametrize("zip64", [False, True])
def test_zips_layerkit_writes_pass_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zip64: bool
) -> None:
    if zip64:  # every field in ZIP64 records without writing 4 GiB
        monkeypatch.setattr(archive, "_ZIP64_LIMIT", 1000)
        monkeypatch.setattr(archive, "_ZIP64_COUNT_LIMIT", 2)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20) + bytes(3 << 20))  # several chunks, patched header
    empty = tmp_path / "empty.py"
    empty.write_bytes(b"")
    members = [archive.ArchiveMember("python/", None),
               archive.ArchiveMember("python/big.bin", big),
               archive.ArchiveMember("python/run.py", empty, executable=True)]  # fmt: skip
    archive.write_zip(members, tmp_path / "out.zip", threads=2)
    with open_layer_zip(tmp_path / "out.zip") as layer:
        assert layer.measure(1 << 30)
        assert [(m.name, m.size) for m in layer.members] == [
            ("python", 0),
            ("python/big.bin", 4 << 20),
            ("python/run.py", 0),
        ]
        assert layer.open("python/big.bin").read() == big.read_bytes()


def test_binaries_beside_site_packages_are_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # /opt/python is on Lambda's sys.path and /opt/lib on LD_LIBRARY_PATH: an extension module
    # in python/ is imported like one in site-packages, so it is judged like one.
    entries = [
        Entry(f"{SITE}/good.so", make_elf(EM_X86_64)),
        Entry("python/other.so", make_elf(EM_AARCH64)),
        Entry("lib/libfoo.so.1", make_elf(EM_AARCH64)),
    ]
    code, view, err = _inspect(capsys, _write(tmp_path, craft(entries)))
    assert code == 5, err
    problems = {(p["path"], p["rule"], p["severity"]) for p in view["problems"]}
    assert ("python/other.so", "machine", "error") in problems
    # a library for the other machine that nothing loaded links: reported, not fatal
    assert ("lib/libfoo.so.1", "other-platform", "warning") in problems

    same_arch = [*entries[:1], Entry("python/other.so", make_elf(EM_X86_64))]
    code, view, err = _inspect(capsys, _write(tmp_path, craft(same_arch), "good.zip"))
    assert code == 0, err
    assert view["problems"] == []
