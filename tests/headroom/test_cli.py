"""`python -m headroom`: each command against the demo world, its exit codes and its messages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from connectors.store import StoreBillingSource, StoreMetricsSource, open_db
from connectors.store_notes import load_notes, save_note
from core.config import load_config
from core.report import build_report, last_complete_week
from headroom.cli import main
from headroom.render import render_html
from headroom.wiring import gather_review_inputs
from tests.conftest import DEMO_END, REPO_ROOT


def test_region_loss_command_line_on_the_demo_world(app_config, capsys) -> None:
    assert main(["region-loss", "--days", "2", "--config", str(app_config.path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Region loss (N+1), demand ") and "growth +0%" in out
    for code in ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-1"):
        assert code in out
    assert main(["region-loss", "--config", str(app_config.path) + ".missing"]) == 2


def test_cli_writes_the_same_file_as_the_page(app_config, tmp_path: Path) -> None:
    db = open_db(app_config.store)
    week = last_complete_week(DEMO_END)
    save_note(db, week, "headroom", "Check eu-central-1 max before the holidays")
    out = tmp_path / "report.html"
    assert main(["review", "--week", week.label, "--out", str(out), "--zip", str(tmp_path / "r.zip")]) == 0
    cfg = load_config(app_config.path)
    inputs = gather_review_inputs(cfg, StoreMetricsSource(db), StoreBillingSource(db), db, week)
    page_bytes = render_html(build_report(inputs, week), load_notes(db, week)).encode("utf-8")
    assert out.read_bytes() == page_bytes
    assert zipfile.ZipFile(tmp_path / "r.zip").namelist()


def test_cli_rejects_a_bad_week(app_config, tmp_path: Path, capsys) -> None:
    assert main(["review", "--week", "last-week", "--out", str(tmp_path / "x.html")]) == 2
    assert "2026-W47" in capsys.readouterr().err


def test_module_entry_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "headroom", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("region-loss", "review"):
        assert command in out
