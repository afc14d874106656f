"""Pictures after training: training curves and a confusion matrix as PNGs in the run's logs folder, and in
TensorBoard; without matplotlib, one line says they are skipped and nothing breaks."""

import glob
import os
import struct
import sys

import pytest

from hezar_accel.trainer.plots import (CONFUSION_FILE, CURVES_FILE, SKIPPED_LINE, confusion_counts, curve_series,
                                       write_run_pictures)

# Rows as training_logs.csv holds them (strings), with a window row, two epoch rows and a mid-epoch evaluation.
ROWS = [
    {"step": "4", "epoch": "1", "train.loss": "1.1", "train.learning_rate": "0.01", "train.samples_per_second": "90"},
    {"step": "8", "epoch": "1", "train.loss": "1.0", "evaluation.loss": "1.05", "evaluation.f1": "0.3",
     "evaluation.accuracy": "0.4"},
    {"step": "12", "epoch": "2", "evaluation.loss": "0.9", "evaluation.f1": "0.45", "evaluation.accuracy": "0.5"},
    {"step": "16", "epoch": "2", "train.loss": "0.7", "evaluation.loss": "0.8", "evaluation.f1": "0.5",
     "evaluation.accuracy": "0.6"},
]
ID2LABEL = {0: "happy", 1: "sad", 2: "angry"}


def png_size(path):
    """(width, height) from a PNG's IHDR chunk; fails when the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_curves_pair_train_and_evaluation_per_quantity():
    series = curve_series(ROWS)
    assert list(series) == ["loss", "f1", "accuracy"]
    assert series["loss"]["train"] == [(4, 1.1), (8, 1.0), (16, 0.7)]
    assert series["loss"]["evaluation"] == [(8, 1.05), (12, 0.9), (16, 0.8)]
    assert series["f1"] == {"train": [], "evaluation": [(8, 0.3), (12, 0.45), (16, 0.5)]}


def test_confusion_counts_put_true_classes_in_rows_and_ignore_padding_ids():
    assert confusion_counts([0, 0, 1, 2, 2, -100], [0, 1, 1, 2, 0, 0], 3) == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_the_pictures_are_written_as_valid_pngs_of_sensible_size(tmp_path):
    pytest.importorskip("matplotlib")
    written = write_run_pictures(str(tmp_path), rows=ROWS, confusion=([0, 1, 2, 2], [0, 1, 1, 2], ID2LABEL))
    assert written == [str(tmp_path / CURVES_FILE), str(tmp_path / CONFUSION_FILE)]
    for path in written:
        width, height = png_size(path)
        assert 300 <= width <= 3000 and 200 <= height <= 3000, (path, width, height)
        assert os.path.getsize(path) > 5000  # drawn, not blank


def test_a_finished_runs_log_folder_is_enough_and_tensorboard_gets_the_images(tmp_path, text_data):
    pytest.importorskip("matplotlib")
    from accelerate.tracking import TensorBoardTracker
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tiny import build_trainer

    trainer = build_trainer(str(tmp_path / "run"), text_data, num_epochs=2)
    trainer.train()
    (log_folder,) = glob.glob(str(tmp_path / "run" / "logs" / "*"))
    tracker = TensorBoardTracker("pictures", str(tmp_path / "tb"))
    tracker.start()  # what accelerator.init_trackers does
    written = write_run_pictures(log_folder, trackers=[tracker])
    assert written == [os.path.join(log_folder, CURVES_FILE)] and png_size(written[0])[0] >= 300
    events = EventAccumulator(str(tmp_path / "tb" / "pictures"), size_guidance={"images": 0})
    events.Reload()
    assert events.Tags()["images"] == ["pictures/training_curves"]
    image = events.Images("pictures/training_curves")[0]
    assert image.step == trainer.state.global_step and image.width >= 300


def test_without_matplotlib_one_line_says_the_pictures_are_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    assert write_run_pictures(str(tmp_path), rows=ROWS, confusion=([0], [0], ID2LABEL)) == []
    assert capsys.readouterr().out == SKIPPED_LINE + "\n"
    assert os.listdir(tmp_path) == []
    assert "pip install 'hezar_accel[plots]'" in SKIPPED_LINE


def test_the_run_log_draws_its_own_pictures_with_the_last_evaluations_confusion(tmp_path, text_data):
    pytest.importorskip("matplotlib")
    from tiny import build_trainer

    trainer = build_trainer(str(tmp_path / "run"), text_data, num_epochs=1, log_with="tensorboard")
    trainer.train()
    written = trainer.run_log.write_pictures(confusion=([0, 1, 2], [0, 2, 2], trainer.unwrapped_model.config.id2label))
    folder = os.path.dirname(trainer.run_log.csv.path)
    assert written == [os.path.join(folder, CURVES_FILE), os.path.join(folder, CONFUSION_FILE)]
    assert all(png_size(path)[0] >= 300 for path in written)
