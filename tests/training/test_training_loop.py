"""The training loop: exact resume, crash safety of checkpoints, DDP on 2 gloo processes, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch

render = pytest.importorskip("training.synth.render")
if not render.gl_available():  # pragma: no cover
    pytest.skip("no OpenGL context", allow_module_level=True)

from training.loop import latest_checkpoint, train  # noqa: E402
from training.tasks import TASKS  # noqa: E402
from x2studio.core.errors import InputError  # noqa: E402
from x2studio.models.fabnet import Autoencoder, RotationNet  # noqa: E402
from x2studio.weights.registry import WeightsRegistry  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def faces(tiny_faces):
    return tiny_faces


def _losses(run: Path, kind: str = "train") -> dict[int, float]:
    evs = [json.loads(x) for x in (run / "progress.jsonl").read_text().splitlines()]
    return {e["step"]: e["losses"]["loss"] for e in evs if e["event"] == kind}


def test_resume_continues_the_run_exactly(faces, tmp_path):
    task = TASKS["autoencoder"]
    recipe = task.recipes["tiny"]
    full = train(task, recipe, faces, tmp_path / "full")
    assert full.step == recipe.steps and full.weights is not None
    part = train(task, recipe, faces, tmp_path / "part", max_steps=5)
    assert part.step == 5 and part.weights is None and latest_checkpoint(tmp_path / "part").name == "ckpt-00000005.pt"
    with pytest.raises(InputError):
        train(task, recipe, faces, tmp_path / "part")            # not without --resume
    done = train(task, recipe, faces, tmp_path / "part", resume=True)
    assert done.step == recipe.steps and done.weights is not None
    a, b = _losses(tmp_path / "full"), _losses(tmp_path / "part")
    assert sorted(b) == list(range(1, recipe.steps + 1))          # continues, not restarts
    for s in range(6, recipe.steps + 1):
        assert b[s] == pytest.approx(a[s], rel=1e-5, abs=1e-6), s
    assert len(list((tmp_path / "full").glob("ckpt-*.pt"))) == recipe.keep


def test_a_crash_while_writing_a_checkpoint_keeps_the_previous_one(faces, tmp_path):
    run = tmp_path / "run"
    script = textwrap.dedent(f"""
        import os, torch
        from training.loop import train
        from training.tasks import TASKS
        real = torch.save
        def dying_save(obj, f, *a, **k):
            if obj["step"] >= 8:                 # die half-way through writing the step-8 checkpoint
                with open(f, "wb") as fh:
                    fh.write(b"PK\\x03\\x04 half a checkpoint")
                os._exit(9)
            real(obj, f, *a, **k)
        torch.save = dying_save
        t = TASKS["rotation"]
        train(t, t.recipes["tiny"], {str(faces)!r}, {str(run)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]
    last = latest_checkpoint(run)
    assert last.name == "ckpt-00000004.pt"
    state = torch.load(last, weights_only=True)
    assert state["step"] == 4
    res = train(TASKS["rotation"], TASKS["rotation"].recipes["tiny"], faces, run, resume=True)
    assert res.step == 12 and res.weights is not None
    assert not list(run.glob("*.part*"))


def test_a_damaged_newest_checkpoint_resumes_from_the_one_before(faces, tmp_path):
    """A newest checkpoint that cannot be read (a disk error, a copy cut short) is skipped and said; the
    run resumes from the one before and finishes; with none readable, a sentence, not a traceback."""
    task = TASKS["rotation"]
    run = tmp_path / "run"
    train(task, task.recipes["tiny"], faces, run, max_steps=8)
    newest = latest_checkpoint(run)
    assert newest.name == "ckpt-00000008.pt"
    newest.write_bytes(b"PK\x03\x04 not a checkpoint any more")
    events = []
    res = train(task, task.recipes["tiny"], faces, run, resume=True, on_event=events.append)
    assert res.step == 12 and res.weights is not None
    assert [e["checkpoint"] for e in events if e["event"] == "damaged"] == ["ckpt-00000008.pt"]
    assert [e["step"] for e in events if e["event"] == "resume"] == [4]
    for ckpt in run.glob("ckpt-*.pt"):
        ckpt.write_bytes(b"junk")
    with pytest.raises(InputError, match="None of the checkpoints"):
        train(task, task.recipes["tiny"], faces, run, resume=True)


def test_a_run_folder_that_is_a_file_or_cannot_be_made_is_a_sentence(faces, tmp_path):
    task = TASKS["rotation"]
    a_file = tmp_path / "run.txt"
    a_file.write_text("mine")
    for out, msg in ((a_file, "is a file"), (Path("/dev/null"), "is a file"), (a_file / "run", "Cannot make")):
        with pytest.raises(InputError, match=msg):
            train(task, task.recipes["tiny"], faces, out)
    assert a_file.read_text() == "mine" and Path("/dev/null").is_char_device()


def test_exported_embeddings_load_through_the_registry(faces, tmp_path):
    for name, cls in (("autoencoder", Autoencoder), ("rotation", RotationNet)):
        task = TASKS[name]
        res = train(task, task.recipes["tiny"], faces, tmp_path / name, weights_dir=tmp_path / "weights")
        entry = WeightsRegistry([tmp_path / "weights"]).get(f"{name}-tiny")
        assert entry.card.architecture == task.architecture and "val_loss" in entry.card.metrics
        assert len(entry.card.data["manifest_sha256"]) == 64
        model = cls(**entry.card.config)
        model.load_state_dict(entry.load_state_dict())
        model.eval()
        emb = model.encoder(torch.zeros(2, 3, 32, 32))
        assert emb.shape == (2, entry.card.config["dim"]) and torch.isfinite(emb).all()
        assert res.best["val_loss"] < 10


@pytest.mark.slow
def test_ddp_on_two_gloo_processes_matches_one_process(faces, tmp_path):
    task = TASKS["autoencoder"]
    recipe = replace(task.recipes["tiny"], steps=6, eval_every=6)
    single = train(task, replace(recipe, batch_size=2 * recipe.batch_size), faces, tmp_path / "one")
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        from dataclasses import replace
        from training.loop import train
        from training.tasks import TASKS
        t = TASKS["autoencoder"]
        train(t, replace(t.recipes["tiny"], steps=6, eval_every=6), {str(faces)!r}, {str(tmp_path / 'two')!r},
              device="cpu")
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", "29517", str(script)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert sorted(b) == list(range(1, 7))
    # same samples per step; only BatchNorm statistics differ (per process vs. whole batch)
    for s in range(1, 7):
        assert b[s] == pytest.approx(a[s], rel=0.05), (s, a, b)
    assert single.weights is not None
    assert (tmp_path / "two" / "weights" / "autoencoder-tiny.safetensors").exists()


def test_loader_workers_deliver_the_same_batches(faces, tmp_path):
    task = TASKS["autoencoder"]
    recipe = replace(task.recipes["tiny"], steps=6, eval_every=6)
    train(task, recipe, faces, tmp_path / "w0")
    train(task, replace(recipe, num_workers=2), faces, tmp_path / "w2")
    a, b = _losses(tmp_path / "w0"), _losses(tmp_path / "w2")
    assert sorted(a) == sorted(b) == list(range(1, 7))
    for s in a:
        assert b[s] == pytest.approx(a[s], rel=1e-5, abs=1e-6)


class _CurriculumTask(type(TASKS["autoencoder"])):
    """The autoencoder with a curriculum: each evaluation raises a level that scales the loss, so a
    resume that lost the level would give other losses."""

    def __init__(self):
        super().__init__()
        self.level = 0
        self.seen: list[int] = []

    def task_state(self):
        return {"level": self.level, "seen": list(self.seen)}

    def load_task_state(self, state):
        self.level, self.seen = int(state["level"]), list(state["seen"])

    def on_eval(self, step, metrics):
        self.level += 1
        self.seen.append(step)

    def loss(self, model, batch):
        loss, logs = super().loss(model, batch)
        return loss * (1 + self.level), logs


def test_curriculum_state_survives_resume(faces, tmp_path):
    recipe = replace(TASKS["autoencoder"].recipes["tiny"], eval_every=3, ckpt_every=4)
    full_task = _CurriculumTask()
    train(full_task, recipe, faces, tmp_path / "full")
    part = _CurriculumTask()
    train(part, recipe, faces, tmp_path / "part", max_steps=8)     # checkpoint at 8 (after evals at 3, 6)
    resumed = _CurriculumTask()                                     # a new process: level starts at 0
    train(resumed, recipe, faces, tmp_path / "part", resume=True)
    assert resumed.task_state() == full_task.task_state() == {"level": 4, "seen": [3, 6, 9, 12]}
    a, b = _losses(tmp_path / "full"), _losses(tmp_path / "part")
    for s in range(9, recipe.steps + 1):
        assert b[s] == pytest.approx(a[s], rel=1e-5, abs=1e-6), s


def test_eval_measures_exported_weights_and_refuses_others(faces, tmp_path):
    from training.loop import evaluate_weights

    task = TASKS["rotation"]
    res = train(task, task.recipes["tiny"], faces, tmp_path / "rot")
    out = evaluate_weights(task, res.weights.weights_path, faces, split="test", cache=tmp_path / "cache")
    assert out["weights"] == "rotation-tiny" and 0 <= out["metrics"]["accuracy"] <= 1 and out["samples"] > 0
    with pytest.raises(InputError, match="not 'fabnet-autoencoder'"):
        evaluate_weights(TASKS["autoencoder"], res.weights.weights_path, faces, cache=tmp_path / "cache")
    with pytest.raises(InputError, match="not a weights entry"):
        evaluate_weights(task, tmp_path / "missing.safetensors", faces, cache=tmp_path / "cache")
    samples = sorted((tmp_path / "rot" / "samples").glob("step-*.png"))
    assert samples, "evaluations write sample images"
    evs = [json.loads(x) for x in (tmp_path / "rot" / "progress.jsonl").read_text().splitlines()]
    assert any(e["event"] == "eval" and e.get("sample_image") == str(samples[-1]) for e in evs)


def test_a_validation_split_smaller_than_a_batch_is_still_evaluated(faces, tmp_path):
    task = TASKS["autoencoder"]
    val = len(task.dataset(faces, "val", task.recipes["tiny"], tmp_path / "c"))
    res = train(task, replace(task.recipes["tiny"], batch_size=val + 1, steps=2, eval_every=2), faces,
                tmp_path / "run")
    assert res.weights is not None and "val_loss" in res.best


def test_a_second_run_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    """Two processes writing one run folder would interleave checkpoints and logs."""
    import os
    import subprocess
    import sys

    from training.run_support import RunLock

    out = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        out.mkdir()
        (out / ".lock").write_text(str(sleeper.pid))           # a live process holds it
        with pytest.raises(InputError, match="Another training process"):
            with RunLock(out, True):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with RunLock(out, True) as lock:                           # its process is gone: taken over
        assert lock.held and (out / ".lock").read_text() == str(os.getpid())
    assert not (out / ".lock").exists()


def test_train_device_is_always_indexed_for_cuda() -> None:
    from training.loop import train_device

    assert str(train_device(None, 0, cuda=False)) == "cpu"
    assert str(train_device(None, 1, cuda=True)) == "cuda:1"
    assert str(train_device("cuda", 3, cuda=True)) == "cuda:3"      # torchrun's LOCAL_RANK
    assert str(train_device("cuda:0", 3, cuda=True)) == "cuda:0"    # an explicit index stays
    assert str(train_device("cpu", 2, cuda=True)) == "cpu"


def test_the_cli_seed_sets_the_run_seed(faces, tmp_path):
    """`train --seed N` is recorded in the run and changes the run (initialisation and data order);
    the same seed gives the same losses."""
    from training.__main__ import main

    def run(name, *extra):
        out = tmp_path / name
        assert main(["train", "autoencoder", "--recipe", "tiny", "--data", str(faces), "--out", str(out),
                     "--steps", "2", *extra]) == 0
        return json.loads((out / "run.json").read_text())["recipe"]["seed"], _losses(out)

    seed_a, a = run("a", "--seed", "5")
    seed_b, b = run("b", "--seed", "5")
    seed_c, c = run("c")
    assert seed_a == seed_b == 5 and seed_c == TASKS["autoencoder"].recipes["tiny"].seed
    assert a == b and a[1] != c[1]


def test_the_cli_lr_sets_the_run_rate(faces, tmp_path, capsys):
    """`train --lr X` is recorded in the run and used by the optimiser; a rate that is not positive,
    or one for an exact-fit recipe, is refused before anything is written."""
    from training.__main__ import main

    out = tmp_path / "lr"
    assert main(["train", "autoencoder", "--recipe", "tiny", "--data", str(faces), "--out", str(out),
                 "--steps", "2", "--lr", "0.0123"]) == 0
    assert json.loads((out / "run.json").read_text())["recipe"]["lr"] == 0.0123
    lrs = [json.loads(line)["lr"] for line in (out / "progress.jsonl").read_text().splitlines()
           if json.loads(line)["event"] == "train"]
    assert lrs and all(abs(lr - 0.0123) < 1e-9 for lr in lrs)
    capsys.readouterr()
    for bad in (["--lr", "0"], ["--lr", "-1"]):
        assert main(["train", "autoencoder", "--recipe", "tiny", "--data", str(faces), "--out", str(tmp_path / "x"),
                     "--steps", "2", *bad]) == 2
        assert "--lr must be a positive number" in capsys.readouterr().err
    assert main(["train", "attributes", "--recipe", "lite", "--data", str(faces), "--out", str(tmp_path / "y"),
                 "--lr", "0.1"]) == 2
    assert "uses lstsq" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_the_cli_batch_size_and_patience_set_the_runs_recipe(faces, tmp_path, capsys):
    """`train --batch-size N --patience P` (the thesis' FAb-Net rows: batch 8 without the curriculum,
    32 with it) are recorded in the run and used; values below 1 are refused before anything is written."""
    from training.__main__ import main

    out = tmp_path / "b"
    assert main(["train", "autoencoder", "--recipe", "tiny", "--data", str(faces), "--out", str(out),
                 "--steps", "2", "--batch-size", "3", "--patience", "1"]) == 0
    recipe = json.loads((out / "run.json").read_text())["recipe"]
    assert recipe["batch_size"] == 3 and recipe["plateau_patience"] == 1
    rates = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert any(e["event"] == "train" for e in rates)
    capsys.readouterr()
    for bad, msg in ((["--batch-size", "0"], "--batch-size must be at least 1"),
                     (["--patience", "0"], "--patience must be at least 1")):
        assert main(["train", "autoencoder", "--recipe", "tiny", "--data", str(faces), "--out", str(tmp_path / "x"),
                     "--steps", "2", *bad]) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_cli_eval_refuses_samples_where_whole_videos_are_measured(tmp_path, capsys):
    from training.__main__ import main

    assert main(["train", "eval", "piano", "--weights", "piano-lite", "--data", str(tmp_path),
                 "--samples", "8"]) == 2
    assert "--samples does not apply to 'piano'" in capsys.readouterr().err
