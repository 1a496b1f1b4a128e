"""The run directory's ownership rules: --overwrite and --resume act only on a directory tfft recognises as its own
and remove only what tfft wrote there; everything else is refused in one line naming what the directory holds."""

import pathlib

import pytest

from conftest import error_line, in_process, tiny_run_config


def user_files(directory: pathlib.Path) -> dict[str, str]:
    """A user's own files in `directory`: a note at the top and one in a subdirectory."""
    (directory / "sub").mkdir(parents=True)
    (directory / "important.txt").write_text("precious")
    (directory / "sub" / "notes.md").write_text("mine")
    return {"important.txt": "precious", "sub/notes.md": "mine"}


def unchanged(directory: pathlib.Path, expected: dict[str, str]) -> bool:
    return all((directory / name).read_text() == text for name, text in expected.items())


@pytest.mark.parametrize("resume,overwrite", [(False, False), (False, True), (True, False)])
def test_a_directory_that_is_not_a_run_is_refused_whatever_the_flags(tmp_path, resume, overwrite):
    from tfft.config import ConfigFlagError
    from tfft.runs import prepare_output_dir

    mine = user_files(tmp_path / "d")
    with pytest.raises(ConfigFlagError) as raised:
        prepare_output_dir(tmp_path / "d", resume=resume, overwrite=overwrite)
    assert str(raised.value) == (f"--output_dir={tmp_path / 'd'}: not empty and not a tfft run (it holds "
                                 "important.txt, sub/); tfft writes only into a new or empty directory or one of its "
                                 "own: choose another --output_dir")
    assert unchanged(tmp_path / "d", mine) and sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "important.txt", "sub"]


def test_a_hugging_face_model_directory_is_not_a_run(tmp_path, tiny_model):
    """A model's config.json is no run config: --output_dir pointed at a model never deletes it."""
    import shutil

    from tfft.config import ConfigFlagError
    from tfft.runs import prepare_output_dir

    model = pathlib.Path(shutil.copytree(tiny_model, tmp_path / "model"))
    before = sorted(p.name for p in model.iterdir())
    with pytest.raises(ConfigFlagError, match="not empty and not a tfft run"):
        prepare_output_dir(model, resume=False, overwrite=True)
    assert sorted(p.name for p in model.iterdir()) == before


@pytest.mark.slow
def test_overwrite_replaces_a_run_and_keeps_the_files_a_user_added(trained_runs, tmp_path):
    import shutil

    from tfft.config import ConfigFlagError
    from tfft.runs import RUN_ENTRIES, prepare_output_dir, read_run

    run_dir = pathlib.Path(shutil.copytree(trained_runs["classification"], tmp_path / "run"))
    mine = user_files(run_dir)
    with pytest.raises(ConfigFlagError) as raised:
        prepare_output_dir(run_dir, resume=False, overwrite=False)
    model = read_run(run_dir).train.model
    assert str(raised.value) == (f"--output_dir={run_dir}: holds a tfft run (--task=classification, --model={model}; "
                                 "finished); pass --resume to continue it or --overwrite to replace it (your "
                                 "important.txt, sub/ would be kept)")
    prepare_output_dir(run_dir, resume=False, overwrite=True)
    assert sorted(p.name for p in run_dir.iterdir()) == ["important.txt", "sub"]
    assert unchanged(run_dir, mine)
    assert not RUN_ENTRIES & {p.name for p in run_dir.iterdir()}


def test_every_file_a_finished_run_holds_is_one_tfft_knows_it_wrote(trained_runs):
    """RUN_ENTRIES is what --overwrite removes: an output added to a run without listing it would survive an
    --overwrite and mix two runs."""
    from tfft.runs import RUN_ENTRIES

    for run_dir in trained_runs.values():
        assert {p.name for p in run_dir.iterdir()} <= RUN_ENTRIES


def test_resume_needs_a_run_and_a_fresh_run_stopped_by_bad_input_leaves_only_the_users_files(tmp_path, tiny_model):
    from tfft.config import ConfigFlagError
    from tfft.runs import discard_unstarted, prepare_output_dir, start_run

    with pytest.raises(ConfigFlagError, match="nothing to resume"):
        prepare_output_dir(tmp_path / "empty", resume=True, overwrite=False)
    run_dir = tmp_path / "run"
    run = tiny_run_config(tiny_model, "classification", output_dir=str(run_dir))
    start_run(run, run_dir)
    mine = user_files(run_dir)
    start_run(run, run_dir, overwrite=True)
    discard_unstarted(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["important.txt", "sub"] and unchanged(run_dir, mine)
    start_run(run, tmp_path / "fresh")
    discard_unstarted(tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_describe_run_says_how_far_it_got(tmp_path, tiny_model):
    from tfft.runs import describe_run, start_run

    run_dir = tmp_path / "run"
    start_run(tiny_run_config(tiny_model, "ner", output_dir=str(run_dir)), run_dir)
    assert describe_run(run_dir) == f"run (--task=ner, --model={tiny_model}; not started)"
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-300"\n'
                                                        'all_model_checkpoint_paths: "ckpt-300"\n')
    assert describe_run(run_dir).endswith("; stopped at update 300)")
    (run_dir / "timing.json").write_text("{}")
    assert describe_run(run_dir).endswith("; finished)")


@pytest.mark.slow
def test_train_overwrite_on_a_directory_that_is_not_a_run_deletes_nothing(tmp_path, tiny_model):
    """The reproduction from the field: --output_dir=d holding a user's files, then --overwrite (the command run in
    this process: conftest in_process)."""
    mine = user_files(tmp_path / "d")
    result = in_process("train", f"--model={tiny_model}", "--dataset=sample", f"--output_dir={tmp_path / 'd'}",
                        "--overwrite")
    assert error_line(result).startswith(f"error: --output_dir={tmp_path / 'd'}: not empty and not a tfft run (it "
                                         "holds important.txt, sub/)")
    assert unchanged(tmp_path / "d", mine) and len(list((tmp_path / "d").iterdir())) == 2


def test_a_sweep_refuses_a_directory_that_is_not_a_sweep_even_with_overwrite(tmp_path, tiny_model):
    from tfft.config import ConfigFlagError
    from tfft.studies.grid import SweepConfig, run_sweep

    mine = user_files(tmp_path / "d")
    config = SweepConfig(tiny_run_config(tiny_model, "classification"), "lr=1e-3", str(tmp_path / "d"),
                         overwrite=True)
    with pytest.raises(ConfigFlagError, match=r"--output_dir=.*/d: not empty and not a tfft sweep \(it holds "
                                              r"important.txt, sub/\)"):
        run_sweep(config)
    assert unchanged(tmp_path / "d", mine) and len(list((tmp_path / "d").iterdir())) == 2


@pytest.mark.parametrize("task,length,shortest", [("classification", 1, 3), ("pair", 4, 5), ("ner", 100000, 3),
                                                  ("classification", 129, 3)])
def test_max_seq_length_is_checked_against_the_model_before_anything_is_written(tiny_model, task, length, shortest):
    import json

    from tfft.config import ConfigFlagError, TrainConfig
    from tfft.runs import check_run

    positions = json.loads((tiny_model / "config.json").read_text())["max_position_embeddings"]
    with pytest.raises(ConfigFlagError, match=rf"--max_seq_length={length}: expected {shortest} to {positions} for "
                                              rf"--model=.* \(its position table has {positions} entries"):
        check_run(TrainConfig(task=task, model=str(tiny_model), max_seq_length=length))
    check_run(TrainConfig(task=task, model=str(tiny_model), max_seq_length=shortest))


def test_a_model_path_that_does_not_exist_is_named_without_the_offline_advice(tmp_path):
    from tfft.checkpoints.hub import ModelNotFoundError
    from tfft.config import TrainConfig
    from tfft.runs import check_run

    with pytest.raises(ModelNotFoundError) as raised:
        check_run(TrainConfig(model=str(tmp_path / "nonexistent")))
    assert str(raised.value) == f"{tmp_path / 'nonexistent'}: no such model directory"


def test_a_run_directory_and_its_export_are_readable_as_the_umask_says(tiny_runs, tmp_path):
    """Every file and directory of a run's settings, best/ (save_pretrained) and export/ (SavedModel): 0640 / 0750
    under umask 027, as open and mkdir give them, not the 0600 / 0700 of the temporary files they were written as."""
    import os
    import shutil

    from tfft.runs import read_run, start_run
    from tfft.serving.module import export_run

    previous = os.umask(0o027)
    try:
        run_dir = tmp_path / "run"
        start_run(read_run(tiny_runs["classification"]), run_dir)
        shutil.copytree(tiny_runs["classification"] / "best", tmp_path / "source")
        from tfft.checkpoints.io import from_pretrained, save_pretrained
        from tfft.tokenization import load_tokenizer

        save_pretrained(from_pretrained(tmp_path / "source"), run_dir / "best",
                        tokenizer=load_tokenizer(tmp_path / "source"))
        export_run(run_dir, run_dir / "export")
    finally:
        os.umask(previous)
    modes = {str(p.relative_to(run_dir)): p.stat().st_mode & 0o777 for p in run_dir.rglob("*")}
    assert {"config.json", "best/model.safetensors", "export/saved_model.pb", "export/variables"} <= set(modes)
    assert {name: mode for name, mode in modes.items()
            if mode != (0o750 if (run_dir / name).is_dir() else 0o640)} == {}
    assert run_dir.stat().st_mode & 0o777 == 0o750
