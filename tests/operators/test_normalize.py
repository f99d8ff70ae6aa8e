from operators.core.schema import content_hash
from operators.text.normalize import Normalize
from tests.conftest import make_table


def test_normalize_repairs_and_cleans():
    op = Normalize()
    out = op(make_table(["Caf\u00c3\u00a9  au\tlait\x00\r\n\n\n\nsecond   line  ", "e\u0301t\u00e9\u200b", "  \x07 "]))
    texts = out.column("text").to_pylist()
    assert texts[0] == "Caf\u00e9 au lait\n\nsecond line"  # mojibake fixed, controls and spaces collapsed
    assert texts[1] == "\u00e9t\u00e9"  # NFC, zero-width space removed
    assert out.column("keep").to_pylist() == [True, True, False]
    assert out.column("drop_reason").to_pylist()[2] == "normalize:empty"
    assert out.column("content_hash").to_pylist()[0] == content_hash(texts[0])


def test_normalize_leaves_dropped_rows_alone():
    table = make_table(["a\x00b", "c\x00d"])
    table = Normalize().drop(table, ["earlier", None])
    out = Normalize()(table)
    assert out.column("text").to_pylist() == ["a\x00b", "cd"]
    assert out.column("drop_reason").to_pylist() == ["normalize:earlier", None]


def test_config_fingerprint_changes_with_params():
    assert Normalize().fingerprint == Normalize().fingerprint
    assert Normalize(fix_mojibake=False).fingerprint != Normalize().fingerprint
