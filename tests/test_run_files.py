"""Config and checkpoint files: checked on loading, versioned, safe; old run folders load."""
import json
import os

import pytest
import torch

from edn.core.config import CONFIG_VERSION, Config
from edn.core.errors import CheckpointError, ConfigError, RunError
from edn.core.paths import CHECKPOINT, CONFIG, TARGET
from edn.core.run import CHECKPOINT_VERSION, TargetInfo, load_checkpoint, save_checkpoint
from edn.inference.transfer import Renderer
from edn.training.presets import preset
from tests.helpers.rendering import render_all
from tests.helpers.tiny_training import SIZE, make_trainer, tiny_config, tiny_target

CPU = torch.device("cpu")


def saved(tmp_path, edit) -> Config:
    raw = json.loads(preset("cpu").to_json())
    edit(raw)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return Config.load(path)


def test_config_rejects_unknown_keys_and_wrong_types_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'generator.ngff'"):
        saved(tmp_path, lambda r: r["generator"].update(ngff=32))
    with pytest.raises(ConfigError, match=r"generator.ngf must be int, not str '32'"):
        saved(tmp_path, lambda r: r["generator"].update(ngf="32"))
    with pytest.raises(ConfigError, match=r"generator.composite must be bool, not int 1"):
        saved(tmp_path, lambda r: r["generator"].update(composite=1))
    with pytest.raises(ConfigError, match=r"unknown key 'train.stages\[1\].widht'"):
        saved(tmp_path, lambda r: r["train"]["stages"][1].update(widht=3))
    with pytest.raises(ConfigError, match=r"missing key 'train.stages\[0\].width'"):
        saved(tmp_path, lambda r: r["train"]["stages"][0].pop("width"))
    assert saved(tmp_path, lambda r: r["train"].update(lr=1)).train.lr == 1.0  # int for float
    with pytest.raises(ConfigError, match="config format 99"):
        saved(tmp_path, lambda r: r.update(format_version=99))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="not a config JSON"):
        Config.load(tmp_path / "broken.json")
    assert json.loads(preset("cpu").to_json())["format_version"] == CONFIG_VERSION


def test_checkpoints_carry_a_version_and_refuse_anything_but_tensors(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}, "iteration": 3})
    state = load_checkpoint(path)
    assert state["format_version"] == CHECKPOINT_VERSION and state["iteration"] == 3

    ran = tmp_path / "ran"

    class Payload:  # unpickling it would run code
        def __reduce__(self):
            return os.mkdir, (str(ran),)

    torch.save({"model": {}, "payload": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="more than tensors and plain values"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not ran.exists()
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="damaged or not a checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an edn checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"model": {}, "format_version": CHECKPOINT_VERSION + 1}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="checkpoint format"):
        load_checkpoint(tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def old_run_folder(tmp_path):
    """A run folder as written before the format versions: config.json without
    format_version (nor person_window), a checkpoint saved with plain torch.save,
    target.json without the window."""
    run = tmp_path / "old"
    trainer = make_trainer(run, tiny_config())
    trainer.step()
    run.mkdir()
    raw = json.loads(trainer.cfg.to_json())
    del raw["format_version"], raw["generator"]["person_window"]
    (run / CONFIG).write_text(json.dumps(raw))
    torch.save(trainer.state(), run / CHECKPOINT)
    info = TargetInfo("tiny", (0, 8), (SIZE, SIZE), (SIZE, SIZE), 12.0, {})
    raw_info = info.__dict__.copy()
    del raw_info["window"]
    (run / TARGET).write_text(json.dumps(raw_info))
    return run, trainer


def test_an_old_run_folder_renders_as_before(tmp_path):
    run, trainer = old_run_folder(tmp_path)
    renderer = Renderer(run, CPU)
    assert renderer.iteration == 1 and renderer.target.window is None
    _, frames, _ = render_all(renderer, tiny_target().keypoints[:2])
    assert frames.shape == (2, SIZE, SIZE, 3)


def test_an_old_run_folder_that_no_longer_fits_says_why(tmp_path):
    run, _ = old_run_folder(tmp_path)
    raw = json.loads((run / CONFIG).read_text())
    raw["generator"]["ngf"] = 8  # the checkpoint's generator has 4
    (run / CONFIG).write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="does not fit this config's CompositeGenerator"):
        Renderer(run, CPU)
    raw["generator"]["ngf"] = 4
    raw["generator"]["retired_option"] = True
    (run / CONFIG).write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="unknown key 'generator.retired_option'"):
        Renderer(run, CPU)
    (run / TARGET).unlink()
    raw["generator"].pop("retired_option")
    (run / CONFIG).write_text(json.dumps(raw))
    with pytest.raises(RunError, match="not a trained run"):
        Renderer(run, CPU)
