"""`python -m headroom rules` and `notify`: the rule file, the pushed signals, and their refusals."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
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


@pytest.mark.slow
def test_notify_pushes_headroom_signals_through_a_real_alertmanager(
    app_config, alertmanager_factory, capsys
) -> None:
    from tests.connectors.test_alertmanager import Receiver, routing_config

    receiver = Receiver()
    try:
        am = alertmanager_factory(routing_config(receiver.url))
        data = tomllib.loads(app_config.path.read_text())
        data["alertmanager"] = {"url": am.url}
        data["alerting"]["notify_severity"] = "sev4"
        # a budget the demo bill overruns for certain: $1 a month for everything
        data["budget"] = [{"name": "Tiny", "monthly_usd": 1.0}]
        config = app_config.path.parent / "notify.toml"
        config.write_text(tomli_w.dumps(data))
        assert main(["notify", "--no-forecast", "--config", str(config)]) == 0
        out, err = capsys.readouterr()
        assert "budget_overrun" in out and "Tiny" in out and "pushed" in err
        got = receiver.wait_for("/tickets", lambda got: any("Tiny" in str(n) for n in got))
        tiny = [a for n in got for a in n["alerts"] if a["labels"]["subject"] == "Tiny"]
        assert len(tiny) == 1
        assert tiny[0]["labels"] == {
            "alertname": "HeadroomSignal",
            "signal": "budget_overrun",
            "subject": "Tiny",
            "severity": "sev4",
        }
        assert tiny[0]["annotations"]["headroom_url"] == "http://localhost:8501/costs"
    finally:
        receiver.server.shutdown()


def test_notify_without_an_alertmanager_url_is_refused(app_config, capsys) -> None:
    assert main(["notify", "--no-forecast"]) == 2
    assert "[alertmanager] url is empty" in capsys.readouterr().err


def test_notify_with_an_unreachable_alertmanager_exits_1(app_config, tmp_path: Path, capsys) -> None:
    from tests.conftest import free_port

    data = tomllib.loads(app_config.path.read_text())
    data["alertmanager"] = {"url": f"http://127.0.0.1:{free_port()}", "timeout": "2s"}
    data["budget"] = [{"name": "Tiny", "monthly_usd": 1.0}]
    config = tmp_path / "unreachable.toml"
    config.write_text(tomli_w.dumps(data))
    assert main(["notify", "--no-forecast", "--config", str(config)]) == 1
    assert "Alertmanager (127.0.0.1:" in capsys.readouterr().err
