"""``mlgov baseline``: profile, suggest, check, drift and merge from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from mlgov.cli import app as cli_module

cli_module._mount()


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli_module.app, ["baseline", *args], catch_exceptions=False)
    assert result.exit_code == code, (
        f"exit {result.exit_code}, expected {code}\nstdout:\n{result.stdout}\n"
        f"stderr:\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr
    return result


def _table(seed: int, shift: float = 0.0, n: int = 2000) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "amount": rng.gamma(2.0, 10.0, n) + shift * 10,
            "tenure": rng.integers(0, 60, n),
            "plan": rng.choice(["a", "b", "c"], n),
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    pq.write_table(_table(1), tmp_path / "reference.parquet")
    pq.write_table(_table(2), tmp_path / "same.parquet")
    pacsv.write_csv(_table(3, shift=1.0), tmp_path / "shifted.csv")
    return {
        "reference": tmp_path / "reference.parquet",
        "same": tmp_path / "same.parquet",
        "shifted": tmp_path / "shifted.csv",
        "dir": tmp_path,
    }


class TestPipeline:
    def test_profile_suggest_check(self, files: dict[str, Path]) -> None:
        statistics = files["dir"] / "statistics.json"
        constraints = files["dir"] / "constraints.json"
        result = run("profile", str(files["reference"]), "-o", str(statistics))
        assert "profiled 2000 rows, 3 features" in result.stderr
        assert json.loads(statistics.read_text())["dataset"] == {"item_count": 2000}
        run("suggest", str(statistics), "-o", str(constraints))
        assert (
            json.loads(constraints.read_text())["monitoring_config"]["datatype_check_threshold"]
            == 1.0
        )

        clean = run(
            "check",
            str(files["same"]),
            "--statistics",
            str(statistics),
            "--constraints",
            str(constraints),
        )
        assert json.loads(clean.stdout) == {"violations": []}
        assert "no violations" in clean.stderr

        violations = files["dir"] / "constraint_violations.json"
        current = files["dir"] / "current_statistics.json"
        drifted = run(
            "check",
            str(files["shifted"]),
            "--statistics",
            str(statistics),
            "--constraints",
            str(constraints),
            "-o",
            str(violations),
            "--statistics-out",
            str(current),
            code=1,
        )
        found = json.loads(violations.read_text())["violations"]
        assert {(v["feature_name"], v["constraint_check_type"]) for v in found} == {
            ("amount", "baseline_drift_check")
        }
        assert "1 violation(s) (baseline_drift_check: 1)" in drifted.stderr
        assert json.loads(current.read_text())["dataset"]["item_count"] == 2000

        run(
            "check",
            str(files["shifted"]),
            "--statistics",
            str(statistics),
            "--constraints",
            str(constraints),
            "--no-fail-on-violations",
            "--drift",
            "ks",
        )

    def test_profile_to_stdout_several_inputs(self, files: dict[str, Path]) -> None:
        result = run("profile", str(files["reference"]), str(files["same"]))
        assert json.loads(result.stdout)["dataset"]["item_count"] == 4000

    def test_drift_and_merge(self, files: dict[str, Path]) -> None:
        part1, part2 = files["dir"] / "p1.json", files["dir"] / "p2.json"
        run("profile", str(files["reference"]), "-o", str(part1))
        run("profile", str(files["same"]), "-o", str(part2))
        merged = json.loads(run("merge", str(part1), str(part2)).stdout)
        assert merged["dataset"]["item_count"] == 4000

        result = run("drift", str(part1), str(files["shifted"]))
        results = {item["feature_name"]: item for item in json.loads(result.stdout)}
        assert results["amount"]["method"] == "wasserstein"
        assert results["amount"]["drifted"] is True
        assert results["plan"]["method"] == "jensen_shannon"
        assert "1 of 3 features drifted: amount" in result.stderr
        psi = run("drift", str(part1), str(files["same"]), "--method", "psi", "--threshold", "0.3")
        assert {item["method"] for item in json.loads(psi.stdout)} == {"psi"}

    def test_drift_names_headerless_columns_after_the_baseline(
        self, files: dict[str, Path]
    ) -> None:
        statistics = files["dir"] / "s.json"
        run("profile", str(files["reference"]), "-o", str(statistics))
        headerless = files["dir"] / "shifted_headerless.csv"
        pacsv.write_csv(
            _table(3, shift=1.0),
            headerless,
            pacsv.WriteOptions(include_header=False, delimiter=";"),
        )
        result = run("drift", str(statistics), str(headerless), "--no-header", "--delimiter", ";")
        results = {item["feature_name"]: item for item in json.loads(result.stdout)}
        assert set(results) == {"amount", "tenure", "plan"}
        assert results["amount"]["drifted"] is True


class TestBadInput:
    def test_unreadable_data_exits_2_with_one_line(self, files: dict[str, Path]) -> None:
        result = run("profile", str(files["dir"] / "absent.parquet"), code=2)
        assert result.stderr.startswith("ERROR INVALID_DATA: no such file or directory")

    def test_malformed_baseline_exits_2(self, files: dict[str, Path]) -> None:
        bad = files["dir"] / "bad.json"
        bad.write_text("{}")
        result = run(
            "check", str(files["same"]), "--statistics", str(bad), "--constraints", str(bad), code=2
        )
        assert "ERROR INVALID_DATA: not a valid statistics.json" in result.stderr

    def test_unknown_drift_method_exits_2(self, files: dict[str, Path]) -> None:
        statistics = files["dir"] / "s.json"
        run("profile", str(files["reference"]), "-o", str(statistics))
        result = run("drift", str(statistics), str(files["same"]), "--method", "magic", code=2)
        assert "choose one of auto, linf_simple" in result.stderr

    def test_preprocessor_must_be_importable(self, files: dict[str, Path]) -> None:
        result = run("profile", str(files["same"]), "--preprocessor", "no_such_module:f", code=2)
        assert "ERROR INVALID_USAGE: --preprocessor" in result.stderr


def test_preprocessor_from_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "pre.py"
    script.write_text(
        "import json\n"
        "def preprocess_handler(record):\n"
        "    payload = json.loads(record.endpoint_input.data)\n"
        "    return {'size': len(payload['items'])} if payload['items'] else None\n"
    )
    capture = tmp_path / "capture.jsonl"
    lines = []
    for items in ([1, 2], [], [3]):
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "application/json",
                            "mode": "INPUT",
                            "data": json.dumps({"items": items}),
                            "encoding": "JSON",
                        }
                    },
                    "eventMetadata": {"eventId": "e"},
                    "eventVersion": "0",
                }
            )
        )
    capture.write_text("\n".join(lines) + "\n")
    result = run("profile", str(capture), "--preprocessor", f"{script}:preprocess_handler")
    statistics = json.loads(result.stdout)
    assert statistics["dataset"]["item_count"] == 2
    assert statistics["features"][0]["numerical_statistics"]["sum"] == 3.0
