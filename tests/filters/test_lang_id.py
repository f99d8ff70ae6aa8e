import pytest
from pydantic import ValidationError

from filters.lang_id import LangId
from tests.conftest import make_table

EN = "The committee will meet on Thursday to discuss the budget for the new library and the school."
FR = "Le comité se réunira jeudi pour discuter du budget de la nouvelle bibliothèque et de l'école."
DE = "Der Ausschuss trifft sich am Donnerstag, um über das Budget der neuen Bibliothek zu sprechen."
JUNK = "x7 qz 93 kk"


def test_lang_id_labels_and_keeps_allowed_languages():
    op = LangId(languages=["en", "fr"], min_score=0.5)
    out = op(make_table([EN, FR, DE, JUNK]))
    assert out.column("lang").to_pylist()[:3] == ["en", "fr", "de"]
    assert all(s > 0.8 for s in out.column("lang_score").to_pylist()[:3])
    assert out.column("drop_reason").to_pylist() == [None, None, "lang_id:lang_not_allowed", "lang_id:low_lang_score"]


def test_threshold_retune_needs_no_rescoring(monkeypatch):
    op = LangId(min_score=0.5)
    scored = op(make_table([EN, DE]))
    strict = LangId(languages=["de"], min_score=0.5)
    monkeypatch.setattr(strict, "score", lambda table: pytest.fail("rescored"))
    out = strict.redecide(scored)
    assert out.column("drop_reason").to_pylist() == ["lang_id:lang_not_allowed", None]


def test_bad_params_are_rejected():
    with pytest.raises(ValidationError):
        LangId(min_score=2)
    with pytest.raises(ValidationError):
        LangId(langs=["en"])
