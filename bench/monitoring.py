"""Data-quality monitoring benchmark: mlgov against the raw read, Evidently and whylogs.

    .venv/bin/python bench/monitoring.py                  # 1M reference + 1M current rows
    .venv/bin/python bench/monitoring.py --rows 10000000  # memory must stay flat

The standard data set (fixed seed): 25 columns, 20 numeric and 5 categorical with about 20 values
each; the current data shifts 5 numeric and 2 categorical columns. Both are written as Parquet under
bench/data/ once. Each contender then runs as its own process, timed by wall clock with its peak
RSS and CPU seconds (user + system, steadier than wall time on a shared machine) taken from
``wait4``:

- ``floor``: read both files once, batch by batch (the least any tool must do);
- ``mlgov``: profile the reference, suggest constraints, check the current data (profile, all six
  checks, L-infinity drift) and write constraint_violations.json;
- ``evidently``: ``Report([DataDriftPreset()])`` over both files as pandas frames;
- ``whylogs``: ``why.log`` profiles of both files as pandas frames.

Evidently and whylogs are benchmark-only dependencies. They live in ``.venv-bench``, created on
first use (``--no-setup`` skips that); when one cannot be installed or fails, the table says why.
Above 2M rows the peers are skipped unless named in ``--tools`` (they load everything into memory);
mlgov is then also run at 1M rows to show its peak RSS does not grow with the data.

Only the standard library is imported at the top: the peers' tasks run this same file under the
bench interpreter, which has neither mlgov nor our dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"
OUT_DIR = ROOT / "bench" / "out"
BENCH_VENV = ROOT / ".venv-bench"
BENCH_PYTHON = BENCH_VENV / "bin" / "python"
# evidently 0.7 breaks on pandas 3 and whylogs 1.6 on numpy 2 (np.unicode_), hence the pins;
# pyarrow 20 and later need numpy 2, and pandas reads Parquet through pyarrow.
PEER_REQUIREMENTS = [
    "evidently>=0.7,<0.8",
    "whylogs>=1.6",
    "pandas>=2.2,<3",
    "numpy<2",
    "pyarrow>=16,<20",
]
# Everything a peer's task imports, so a half-working .venv-bench is noticed and repaired.
PEER_PROBE = "import evidently, whylogs, pandas, pyarrow.parquet"

SEED = 20_240_601
NUMERIC_COLUMNS = 20
CATEGORICAL_COLUMNS = 5
CATEGORIES = 20
CHUNK_ROWS = 500_000
ROW_GROUP_ROWS = 131_072
PEER_ROW_LIMIT = 2_000_000
TIMEOUT_SECONDS = 3600

# Targets from DESIGN.md section 7 and the issue.
TARGET_SPEEDUP_VS_EVIDENTLY = 20.0
TARGET_RATIO_TO_FLOOR = 4.0
TARGET_PEAK_RSS_MB = 1536.0
# "Flat" memory: ten times the rows may cost at most this much more peak RSS (allocator noise).
TARGET_RSS_GROWTH = 1.25


# --- data ---------------------------------------------------------------------------------------


def data_paths(rows: int) -> tuple[Path, Path]:
    return DATA_DIR / f"reference_{rows}.parquet", DATA_DIR / f"current_{rows}.parquet"


def generate(rows: int) -> tuple[Path, Path]:
    """Write the reference and current files for ``rows`` rows unless they exist."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    reference, current = data_paths(rows)
    if reference.exists() and current.exists():
        return reference, current
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    categories = np.array([f"category_{i:02d}" for i in range(CATEGORIES)])
    weights = 1.0 / np.arange(1, CATEGORIES + 1)  # Zipf-like: a few common values, a long tail
    base_shares = weights / weights.sum()
    shifted_shares = base_shares[::-1].copy()

    def chunk(rng: np.random.Generator, size: int, drifted: bool) -> pa.Table:
        columns: dict[str, pa.Array] = {}
        for i in range(NUMERIC_COLUMNS):
            shift = drifted and i < 5
            kind = i % 4
            if kind == 0:
                values = rng.normal(0.5 if shift else 0.0, 1.0, size)
            elif kind == 1:
                values = rng.lognormal(0.0, 0.8 if shift else 0.5, size)
            elif kind == 2:
                values = rng.uniform(0.0, 1.3 if shift else 1.0, size)
            else:
                values = rng.poisson(6.0 if shift else 4.0, size).astype(np.int64)
            columns[f"num_{i:02d}"] = pa.array(values)
        for i in range(CATEGORICAL_COLUMNS):
            shares = shifted_shares if drifted and i < 2 else base_shares
            columns[f"cat_{i}"] = pa.array(categories[rng.choice(CATEGORIES, size, p=shares)])
        return pa.table(columns)

    for path, drifted, offset in ((reference, False, 0), (current, True, 1)):
        partial = path.with_suffix(".partial")
        writer: pq.ParquetWriter | None = None
        for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
            rng = np.random.default_rng([SEED, offset, index])
            table = chunk(rng, min(CHUNK_ROWS, rows - start), drifted)
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        assert writer is not None
        writer.close()
        partial.rename(path)
    return reference, current


# --- tasks (each runs in its own process) --------------------------------------------------------


def task_floor(reference: Path, current: Path) -> dict[str, object]:
    import pyarrow.parquet as pq

    rows = 0
    for path in (reference, current):
        # Without pre-buffering, which would read the whole file into memory first (and is
        # slower here): the cheapest streaming read pyarrow offers.
        for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=65_536):
            rows += batch.num_rows
    return {"rows": rows}


def task_mlgov(reference: Path, current: Path) -> dict[str, object]:
    from mlgov.analytics import check, profile, suggest_constraints

    baseline = profile(reference)
    constraints = suggest_constraints(baseline)
    report = check(current, baseline, constraints)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    baseline.write(OUT_DIR / "statistics.json")
    constraints.write(OUT_DIR / "constraints.json")
    report.violations.write(OUT_DIR / "constraint_violations.json")
    drifted = sorted({v.feature_name for v in report.violations.violations})
    return {"violations": len(report.violations.violations), "drifted": drifted}


def task_evidently(reference: Path, current: Path) -> dict[str, object]:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference_frame = pd.read_parquet(reference)
    current_frame = pd.read_parquet(current)
    snapshot = Report([DataDriftPreset()]).run(current_frame, reference_frame)
    summary = snapshot.dict()
    drifted = None
    for metric in summary.get("metrics", []):
        value = metric.get("value")
        if (
            isinstance(value, dict)
            and "count" in value
            and "DriftedColumnsCount" in str(metric.get("metric_name", metric.get("metric_id", "")))
        ):
            drifted = value["count"]
    return {"drifted_columns": drifted}


def task_whylogs(reference: Path, current: Path) -> dict[str, object]:
    import pandas as pd
    import whylogs as why

    columns = 0
    for path in (reference, current):
        result = why.log(pd.read_parquet(path))
        columns = len(result.view().get_columns())
    return {"columns": columns}


TASKS = {
    "floor": task_floor,
    "mlgov": task_mlgov,
    "evidently": task_evidently,
    "whylogs": task_whylogs,
}
PEERS = ("evidently", "whylogs")


# --- running and measuring ----------------------------------------------------------------------


@dataclass
class Measurement:
    tool: str
    rows: int
    seconds: float | None = None
    peak_rss_mb: float | None = None
    detail: str = ""
    cpu_seconds: float | None = None  # user + system: less sensitive to a busy machine
    failed: bool = False


def ensure_bench_venv() -> str | None:
    """Create .venv-bench with the peers; return why not if that fails."""
    if BENCH_PYTHON.exists():
        probe = subprocess.run(
            [str(BENCH_PYTHON), "-c", PEER_PROBE],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            return None
    print(f"setting up {BENCH_VENV.name} with {', '.join(PEER_REQUIREMENTS)} ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(BENCH_VENV)],
        [str(BENCH_PYTHON), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            return f"{' '.join(step[:4])} failed: {lines[-1] if lines else result.returncode}"
    return None


def peer_available(tool: str) -> str | None:
    module = {"evidently": "evidently", "whylogs": "whylogs"}[tool]
    if not BENCH_PYTHON.exists():
        return f"{BENCH_VENV.name} does not exist"
    probe = subprocess.run(
        [str(BENCH_PYTHON), "-c", f"import {module}, pyarrow.parquet"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        return f"cannot import {module} and pyarrow: {lines[-1] if lines else 'unknown error'}"
    return None


def measure(tool: str, rows: int, reference: Path, current: Path) -> Measurement:
    python = str(BENCH_PYTHON) if tool in PEERS else sys.executable
    command = [python, str(Path(__file__).resolve()), "--task", tool, str(reference), str(current)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")} if tool not in PEERS else None
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return Measurement(tool, rows, detail=f"killed after {TIMEOUT_SECONDS} s", failed=True)
    seconds = time.perf_counter() - started
    peak_mb = _child_peak_rss_mb()
    cpu = _child_cpu_seconds()
    if process.returncode != 0:
        lines = stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit {process.returncode}"
        return Measurement(tool, rows, seconds, peak_mb, detail=f"failed: {reason}", failed=True)
    detail = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    return Measurement(tool, rows, seconds, peak_mb, detail=detail, cpu_seconds=cpu)


def _child_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child_peak_rss_mb() -> float:
    # RUSAGE_CHILDREN keeps the maximum over all waited-for children, so a smaller process run
    # after a bigger one reports the bigger peak. Each task therefore runs in a fresh
    # intermediate process (see run_isolated) whose own children maximum is exactly its task's.
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_isolated(tool: str, rows: int, reference: Path, current: Path) -> Measurement:
    """Measure ``tool`` from a fresh process, so the peak RSS belongs to this run alone."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure",
        tool,
        str(rows),
        str(reference),
        str(current),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return Measurement(tool, rows, detail=f"failed: {lines[-1] if lines else ''}", failed=True)
    return Measurement(**json.loads(result.stdout.strip().splitlines()[-1]))


def fastest(tool: str, rows: int, reference: Path, current: Path, runs: int) -> Measurement:
    """The fastest of ``runs`` runs, with the largest peak RSS any of them reached."""
    measured = [run_isolated(tool, rows, reference, current) for _ in range(runs)]
    failed = [m for m in measured if m.failed]
    if failed:
        return failed[0]
    best = min(measured, key=lambda m: m.seconds or float("inf"))
    best.peak_rss_mb = max(m.peak_rss_mb or 0.0 for m in measured)
    if runs > 1:
        best.detail = f"best of {runs}; {best.detail}"
    return best


# --- report -------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(results: list[Measurement], rows: int) -> str:
    mlgov = next((r for r in results if r.tool == "mlgov" and r.rows == rows), None)
    floor = next((r for r in results if r.tool == "floor" and r.rows == rows), None)
    lines = [
        f"monitoring benchmark: {rows:,} reference + {rows:,} current rows, "
        f"{NUMERIC_COLUMNS + CATEGORICAL_COLUMNS} columns, {os.cpu_count()} cores",
        "",
        f"{'tool':<10} {'rows':>12} {'wall s':>9} {'cpu s':>8} {'peak RSS MB':>12} "
        f"{'x mlgov time':>13}  notes",
    ]
    for result in results:
        ratio = None
        if mlgov and mlgov.seconds and result.seconds and not result.failed:
            ratio = result.seconds / mlgov.seconds
        lines.append(
            f"{result.tool:<10} {result.rows:>12,} {_fmt(result.seconds):>9} "
            f"{_fmt(result.cpu_seconds):>8} {_fmt(result.peak_rss_mb, 0):>12} "
            f"{_fmt(ratio):>13}  {result.detail}"
        )
    lines.append("")
    if mlgov and mlgov.seconds and not mlgov.failed:
        if floor and floor.seconds and not floor.failed:
            ratio = mlgov.seconds / floor.seconds
            verdict = "ok" if ratio <= TARGET_RATIO_TO_FLOOR else "MISSED"
            lines.append(
                f"mlgov / read floor: {ratio:.2f}x (target <= {TARGET_RATIO_TO_FLOOR:g}x) {verdict}"
            )
        evidently = next((r for r in results if r.tool == "evidently"), None)
        if evidently and evidently.seconds and not evidently.failed:
            speedup = evidently.seconds / mlgov.seconds
            verdict = "ok" if speedup >= TARGET_SPEEDUP_VS_EVIDENTLY else "MISSED"
            lines.append(
                f"Evidently / mlgov: {speedup:.1f}x faster "
                f"(target >= {TARGET_SPEEDUP_VS_EVIDENTLY:g}x) {verdict}"
            )
        for run in (r for r in results if r.tool == "mlgov"):
            verdict = "ok" if (run.peak_rss_mb or 0) < TARGET_PEAK_RSS_MB else "MISSED"
            lines.append(
                f"mlgov peak RSS at {run.rows:,} rows: {_fmt(run.peak_rss_mb, 0)} MB "
                f"(target < {TARGET_PEAK_RSS_MB:g} MB) {verdict}"
            )
        runs = sorted(
            (r for r in results if r.tool == "mlgov" and r.peak_rss_mb and not r.failed),
            key=lambda r: r.rows,
        )
        if len(runs) >= 2 and runs[0].rows < runs[-1].rows:
            small, large = runs[0], runs[-1]
            growth = (large.peak_rss_mb or 0) / (small.peak_rss_mb or 1)
            verdict = "ok" if growth <= TARGET_RSS_GROWTH else "MISSED"
            lines.append(
                f"mlgov peak RSS {large.rows:,} / {small.rows:,} rows: {growth:.2f}x "
                f"(flat: target <= {TARGET_RSS_GROWTH:g}x for {large.rows // small.rows}x "
                f"the data) {verdict}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--tools", default=None, help="comma-separated subset of floor,mlgov,evidently,whylogs"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of floor and mlgov; the fastest counts (the machine may be shared)",
    )
    parser.add_argument("--no-setup", action="store_true", help="do not create .venv-bench")
    parser.add_argument("--task", nargs=3, metavar=("TOOL", "REFERENCE", "CURRENT"))
    parser.add_argument("--measure", nargs=4, metavar=("TOOL", "ROWS", "REFERENCE", "CURRENT"))
    args = parser.parse_args(argv)

    if args.task:
        tool, reference, current = args.task
        outcome = TASKS[tool](Path(reference), Path(current))
        print(", ".join(f"{key}={value}" for key, value in outcome.items()))
        return 0
    if args.measure:
        tool, rows, reference, current = args.measure
        result = measure(tool, int(rows), Path(reference), Path(current))
        print(json.dumps(result.__dict__))
        return 0

    rows = args.rows
    tools = (
        args.tools.split(",")
        if args.tools
        else ["floor", "mlgov", *(PEERS if rows <= PEER_ROW_LIMIT else ())]
    )
    unknown = sorted(set(tools) - set(TASKS))
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)}")
    print(f"generating data for {rows:,} rows (once) ...", flush=True)
    reference, current = generate(rows)
    setup_problem = None
    if any(tool in PEERS for tool in tools) and not args.no_setup:
        setup_problem = ensure_bench_venv()

    results: list[Measurement] = []
    if rows > 1_000_000 and "mlgov" in tools:
        small_reference, small_current = generate(1_000_000)
        print("running mlgov at 1,000,000 rows for the memory comparison ...", flush=True)
        results.append(fastest("mlgov", 1_000_000, small_reference, small_current, args.repeat))
    for tool in tools:
        if tool in PEERS:
            problem = peer_available(tool)
            if problem is not None:
                detail = f"not run: {setup_problem or problem}"
                results.append(Measurement(tool, rows, detail=detail, failed=True))
                continue
        runs = 1 if tool in PEERS else max(args.repeat, 1)
        print(f"running {tool} ({runs}x) ...", flush=True)
        results.append(fastest(tool, rows, reference, current, runs))
    if rows > PEER_ROW_LIMIT and not args.tools:
        for tool in PEERS:
            detail = f"skipped above {PEER_ROW_LIMIT:,} rows (name it in --tools to run it)"
            results.append(Measurement(tool, rows, detail=detail, failed=True))
    text = report(results, rows)
    print()
    print(text)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"monitoring_{rows}.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
