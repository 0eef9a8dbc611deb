"""`python -m headroom rules`: the rule file, its summary line and its refusals."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import tomli_w
import yaml

from headroom.cli import main
from tests.conftest import SHIPPED_CONFIG


def test_rules_command_writes_a_rule_file_promtool_accepts(tmp_path: Path, capsys) -> None:
    out = tmp_path / "headroom-rules.yml"
    assert main(["rules", "--out", str(out), "--config", str(SHIPPED_CONFIG)]) == 0
    err = capsys.readouterr().err
    assert f"wrote {out}: 4 groups," in err and "2 threshold alerts" in err
    assert [g["name"] for g in yaml.safe_load(out.read_text())["groups"]][-1] == "headroom-thresholds"
    check = subprocess.run(["promtool", "check", "rules", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_rules_command_refuses_an_unknown_metric_and_writes_nothing(tmp_path: Path, capsys) -> None:
    data = tomllib.loads(SHIPPED_CONFIG.read_text())
    del data["prometheus"]["queries"]["errors_per_second"]
    config = tmp_path / "headroom.toml"
    config.write_text(tomli_w.dumps(data))
    out = tmp_path / "rules.yml"
    assert main(["rules", "--out", str(out), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "slo[0] 'api-availability': metric 'errors_per_second' has no PromQL template" in err
    assert "nothing written" in err and not out.exists()
