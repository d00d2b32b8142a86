"""DBoW2 vocabulary: build, write, validate; every corrupt variant is caught before ORB-SLAM3 sees it."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from umi_bench.cli import cli
from umi_bench.errors import VocabularyError
from umi_bench.slam import vocabulary
from umi_bench.slam.vocabulary import default_vocabulary_path, validate_vocabulary


def test_built_vocabulary_format(built_vocab):
    info = validate_vocabulary(built_vocab)
    assert (info.k, info.levels, info.scoring, info.weighting) == (10, 3, 0, 0)
    text = built_vocab.read_text()
    assert not text.endswith("\n")
    lines = text.split("\n")
    assert lines[0] == "10 3 0 0"
    assert len(lines) - 1 == info.n_nodes
    rows = [ln.split() for ln in lines[1:]]
    parents = np.array([int(r[0]) for r in rows])
    leaf = np.array([int(r[1]) for r in rows])
    weight = np.array([float(r[-1]) for r in rows])
    assert all(len(r) == 35 for r in rows)
    assert np.all(np.diff(parents) >= 0)  # breadth-first order
    assert np.all(parents[:10] == 0) and np.sum(parents == 0) == 10  # k children of the root
    assert np.all(weight[leaf == 1] >= vocabulary.IDF_FLOOR) and np.all(weight[leaf == 0] == 0.0)
    assert info.n_words == int(leaf.sum()) and info.n_words > 500


def test_default_vocabulary_ships_and_validates():
    info = validate_vocabulary(default_vocabulary_path())
    assert (info.k, info.levels) == (10, 3)
    assert info.n_words == 1000


def test_bit_majority_matches_dbow2():
    d = np.array([[0b11110000] + [0] * 31, [0b11000000] + [0] * 31, [0b10000001] + [255] * 31], dtype=np.uint8)
    assert _bits(vocabulary._bit_majority(d))[:8] == [1, 1, 0, 0, 0, 0, 0, 0]  # >= 2 of 3 set
    assert vocabulary._bit_majority(d[:2])[0] == 0b11110000  # ties (1 of 2) set the bit
    assert vocabulary._bit_majority(d)[1] == 0


def _bits(b):
    return [int(x) for x in np.unpackbits(b)]


def _corrupt(src: Path, dst: Path, edit) -> Path:
    lines = src.read_text().split("\n")
    dst.write_text(edit(lines))
    return dst


def _set_field(lines, line_index, field, value):
    parts = lines[line_index].split()
    parts[field] = value
    lines[line_index] = " ".join(parts)
    return "\n".join(lines)


CORRUPTIONS = {
    "k_too_big": (lambda ls: "\n".join(["21 3 0 0"] + ls[1:]), ":1: header k=21 out of range 2..20"),
    "levels_zero": (lambda ls: "\n".join(["10 0 0 0"] + ls[1:]), ":1: header L=0 out of range 1..10"),
    "scoring": (lambda ls: "\n".join(["10 3 6 0"] + ls[1:]), ":1: header scoring=6 out of range 0..5"),
    "weighting": (lambda ls: "\n".join(["10 3 0 4"] + ls[1:]), ":1: header weighting=4 out of range 0..3"),
    "header_words": (lambda ls: "\n".join(["ten 3 0 0"] + ls[1:]), ":1: header must be 'k L scoring weighting'"),
    "trailing_newline": (lambda ls: "\n".join(ls) + "\n", "trailing newline"),
    "short_line": (lambda ls: "\n".join(ls[:5] + [" ".join(ls[5].split()[:20])] + ls[6:]), ":6: node line has 20 fields, expected 35"),
    "forward_parent": (lambda ls: _set_field(ls, 3, 0, "99"), ":4: parent id 99 is not an earlier node (0..2)"),
    "byte_256": (lambda ls: _set_field(ls, 2, 5, "256"), ":3: descriptor byte '256' is not an integer in 0..255"),
    "zero_weight": (lambda ls: _set_field(ls, len(ls) - 1, -1, "0"), "must be finite and > 0"),
    "leaf_flag": (lambda ls: _set_field(ls, 1, 1, "1"), ":2: node 1 is flagged leaf but has children"),
    "bad_weight": (lambda ls: _set_field(ls, 1, -1, "abc"), ":2: weight 'abc' is not a number"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_vocabulary_caught(built_vocab, tmp_path, name):
    edit, message = CORRUPTIONS[name]
    bad = _corrupt(built_vocab, tmp_path / f"{name}.txt", edit)
    with pytest.raises(VocabularyError) as e:
        validate_vocabulary(bad)
    assert str(bad) in str(e.value) and message in str(e.value)


def test_suffix_and_missing(built_vocab, tmp_path):
    other = tmp_path / "voc.bin"
    other.write_bytes(built_vocab.read_bytes())
    with pytest.raises(VocabularyError, match=r"voc.bin: vocabulary file must end in .txt"):
        validate_vocabulary(other)
    with pytest.raises(VocabularyError, match=r"nope.txt: vocabulary file not found"):
        validate_vocabulary(tmp_path / "nope.txt")


def test_too_many_nodes(tmp_path):
    line = "0 1 " + " ".join(["7"] * 32) + " 1.5"
    bad = tmp_path / "big.txt"
    bad.write_text("\n".join(["2 1 0 0"] + [line] * 3))  # a k=2 L=1 tree holds 2 nodes
    with pytest.raises(VocabularyError, match=r"3 nodes exceed the 2 a k=2 L=1 tree can hold"):
        validate_vocabulary(bad)


def test_cli_check_and_build(built_vocab, slam_session, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["vocab", "check", str(built_vocab), "--json"])
    assert r.exit_code == 0, r.output
    assert '"k": 10' in r.output and '"levels": 3' in r.output
    bad = _corrupt(built_vocab, tmp_path / "bad.txt", CORRUPTIONS["k_too_big"][0])
    from umi_bench.cli import main

    with pytest.raises(SystemExit) as ex:
        main(["vocab", "check", str(bad)])
    assert ex.value.code == 1
    video = next(iter(slam_session["videos"].values()))["path"]
    out = tmp_path / "cli_vocab.txt"
    r = runner.invoke(cli, ["vocab", "build", str(video), "--out", str(out), "--k", "5", "--levels", "2", "--frames-per-video", "5"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"ok {out}: k=5 L=2 scoring=0 weighting=0")
    assert validate_vocabulary(out).n_words <= 25


def test_module_doctests():
    import umi_bench.slam
    import umi_bench.slam.worker

    for mod in (vocabulary, umi_bench.slam, umi_bench.slam.worker):
        result = doctest.testmod(mod)
        assert result.attempted > 0 and result.failed == 0
