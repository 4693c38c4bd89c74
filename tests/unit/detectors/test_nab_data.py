"""The NAB-data benchmark reads NAB's own layout and windows as NAB's sweeper does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.bench.detectors.nab import nab_score_windows
from tests.bench.detectors.nab_data import load, main


def _nab_dir(root: Path) -> None:
    """A two-file NAB-layout directory: one file with a window, one label with no data."""
    (root / "labels").mkdir(parents=True)
    (root / "data" / "realTraffic").mkdir(parents=True)
    labels = {
        "realTraffic/speed_x.csv": [["2015-09-01 01:40:00.000000", "2015-09-01 02:00:00.000000"]],
        "realTweets/missing.csv": [],
    }
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    rows = [f"2015-09-01 {i // 12:02d}:{5 * (i % 12):02d}:00,{60 + (i % 3)}" for i in range(36)]
    (root / "data" / "realTraffic" / "speed_x.csv").write_text(
        "timestamp,value\n" + "\n".join(rows) + "\n"
    )


def test_load_maps_window_timestamps_to_rows(tmp_path: Path) -> None:
    _nab_dir(tmp_path)
    files, missing = load(tmp_path)
    assert missing == ["realTweets/missing.csv"]
    (f,) = files
    assert f.name == "realTraffic/speed_x.csv" and f.category == "realTraffic"
    assert len(f.values) == 36 and f.values[:3].tolist() == [60.0, 61.0, 62.0]
    assert f.windows == [(20, 24)]  # 01:40 is row 20, 02:00 row 24, both ends inside
    assert np.all(np.diff(f.ts) == 300.0)
    early = np.zeros(36)
    early[20] = 1.0  # a detection at the window's left edge is a perfect score
    assert nab_score_windows([(early, f.windows)])[0] == pytest.approx(100.0)


def test_missing_data_gives_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError, match=r"combined_windows\.json not found"):
        load(tmp_path)
    monkeypatch.setattr(sys, "argv", ["nab_data", "--data", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        main()
    assert "numenta/NAB" in str(stop.value.code) and "--data DIR" in str(stop.value.code)
    monkeypatch.setattr(sys, "argv", ["nab_data"])
    monkeypatch.delenv("ROLLGUARD_NAB_DIR", raising=False)
    with pytest.raises(SystemExit, match="no NAB directory given"):
        main()


def test_a_window_outside_the_rows_is_refused(tmp_path: Path) -> None:
    _nab_dir(tmp_path)
    labels = {"realTraffic/speed_x.csv": [["2015-09-02 01:40:00", "2015-09-02 02:00:00"]]}
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    with pytest.raises(ValueError, match="outside its rows"):
        load(tmp_path)
