import json

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from operators.formats.tokenize import SMOLLM2, Encoder, TokenizerError, resolve


def test_packaged_smollm2_tokenizer():
    info = resolve(SMOLLM2)
    assert info.vocab_size == 49152 and info.eos_token == "<|im_end|>" and info.eos_id == 2
    assert len(info.sha256) == 64
    enc = Encoder(info)
    ids = enc.encode(["Hello world", "Bonjour"])
    assert ids[0][-1] == 2 and ids[1][-1] == 2
    assert enc.decode(ids[0][:-1]) == "Hello world"
    assert resolve(SMOLLM2).sha256 == info.sha256  # cached conversion is stable


def test_any_tokenizer_json(tmp_path):
    vocab = {"<unk>": 0, "</s>": 1, "hello": 2, "world": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    info = resolve(str(tmp_path))
    assert (info.vocab_size, info.eos_token, info.eos_id) == (4, "</s>", 1)
    assert Encoder(info).encode(["hello world foo"]) == [[2, 3, 0, 1]]
    with pytest.raises(TokenizerError, match="no token"):
        resolve(str(tmp_path / "tokenizer.json"), eos_token="<eos>")


def test_missing_and_broken_tokenizers(tmp_path):
    with pytest.raises(TokenizerError, match="does not exist"):
        resolve(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text(json.dumps({"not": "a tokenizer"}))
    with pytest.raises(TokenizerError, match="cannot be loaded"):
        resolve(str(tmp_path / "bad.json"))
