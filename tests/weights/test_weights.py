from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from x2studio.core.errors import InputError, MediaError
from x2studio.weights import ModelCard, WeightsRegistry, save_weights


def test_save_and_load_through_registry(x2_home: Path) -> None:
    net = torch.nn.Linear(4, 2)
    card = ModelCard("tiny-linear", "linear", config={"in": 4, "out": 2}, metrics={"loss": 0.1})
    entry = save_weights(net.state_dict(), card)
    assert entry.card.sha256 and entry.card.created
    reg = WeightsRegistry()
    assert "tiny-linear" in reg.names() and reg.names("linear") == ["tiny-linear"]
    loaded = reg.get("tiny-linear")
    state = loaded.load_state_dict()
    assert torch.equal(state["weight"], net.weight.detach())
    assert json.loads(loaded.card_path.read_text())["config"] == {"in": 4, "out": 2}


def test_tampered_weights_are_refused(x2_home: Path) -> None:
    entry = save_weights(torch.nn.Linear(2, 2).state_dict(), ModelCard("t", "linear"))
    data = bytearray(entry.weights_path.read_bytes())
    data[-1] ^= 0xFF
    entry.weights_path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="checksum"):
        WeightsRegistry().get("t").load_state_dict()


def test_pickle_is_never_loaded(x2_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    torch.save({"weight": torch.zeros(2)}, folder / "evil.safetensors")  # a pickle in disguise
    import hashlib

    digest = hashlib.sha256((folder / "evil.safetensors").read_bytes()).hexdigest()
    (folder / "evil.json").write_text(json.dumps({"name": "evil", "architecture": "x", "sha256": digest}))
    with pytest.raises(MediaError, match="cannot be read"):
        WeightsRegistry([folder]).get("evil").load_state_dict()


def test_unknown_name_and_bad_cards(x2_home: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No weights named"):
        WeightsRegistry([tmp_path]).get("nothing")
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "bad.safetensors").write_bytes(b"")
    assert WeightsRegistry([tmp_path]).names() == []
    with pytest.raises(InputError):
        save_weights({}, ModelCard("../escape", "x"))


def test_weights_cli_lists_and_adds(x2_home: Path, tmp_path: Path, capsys) -> None:
    from x2studio.cli import main

    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    save_weights(torch.nn.Linear(3, 2).state_dict(), ModelCard("run-linear", "linear", metrics={"val_loss": 0.25}),
                 run / "weights")
    assert main(["weights", "add", str(run), "--name", "mine"]) == 0
    assert WeightsRegistry().get("mine").load_state_dict()["weight"].shape == (2, 3)
    capsys.readouterr()
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "mine" in out and "user" in out and "val_loss 0.25" in out
    assert "autoencoder-lite" in out and "bundled" in out
    assert main(["weights", "add", str(tmp_path / "nothing.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
