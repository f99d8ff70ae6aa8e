"""assay's spaCy pipelines are built without importing the packages that register spaCy plugins."""

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

PLUGINS = sorted({ep.value.split(":")[0].split(".")[0] for ep in entry_points(group="spacy_factories")})

PROBE = """
import sys, pyarrow, spacy
from filters.quality.tokenizers import spacy_words
from filters.pii.detect import ner_pipeline
words = spacy_words("en").split(pyarrow.array(["Mr. O'Neil's e-mail: a@b.io (2024)."]))
ents = [(e.text, e.label_) for e in ner_pipeline()("Alice Johnson moved to Paris last spring.").ents]
print(sorted(p for p in {plugins!r} if p in sys.modules))
print(words.to_pylist()[0]); print(ents)
spacy.blank("en")  # outside build(): spaCy reads the entry points again
print(sorted(p for p in {plugins!r} if p in sys.modules))
"""


@pytest.mark.skipif(not PLUGINS, reason="no installed package registers a spaCy factory")
def test_pipelines_leave_other_packages_factories_unimported():
    out = subprocess.run([sys.executable, "-c", PROBE.format(plugins=PLUGINS)], capture_output=True, text=True,
                         check=True, timeout=300).stdout.splitlines()
    assert out[0] == "[]", out  # presidio_analyzer (and torch with it) not imported by our pipelines
    # The pipelines still work: DataTrove's word split and the NER.
    assert out[1] == str(["Mr.", "O'Neil", "'s", "e", "-", "mail", ":", "a@b.io", "(", "2024", ")", "."]), out[1]
    assert "('Alice Johnson', 'PERSON')" in out[2] and "('Paris', 'GPE')" in out[2], out[2]
    # Only while building: spaCy's own behaviour is restored afterwards.
    assert out[3] == str(PLUGINS), out
