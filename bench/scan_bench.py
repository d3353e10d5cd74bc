"""The log scanner at scale: a million indicators against 2 GB of mixed, realistic logs.

    .venv/bin/python -m bench.scan_bench                      # 2 GB, 1,000,000 indicators, 2 jobs
    .venv/bin/python -m bench.scan_bench --size-gb 0.2 --indicators 100000 --skip-grep  # a trial

Indicators: maltrail's static trails (real domains, addresses, networks and URLs; bare paths
skipped), a fixed-seed sample of them topped up with the kinds maltrail lacks (hashes, e-mail
addresses, IPv6 addresses and networks, more IPv4 networks), leaving out values on the scan's
warninglists so that every one is loaded. They go into the local cache `balai scan` keeps.

Logs: real lines (../shared/data/logs) drawn at random with new addresses (a few thousand
internal 10.x hosts, about 200,000 external addresses, both drawn Zipf-like), new Zeek times and
uids, and generated web access and proxy lines with benign hosts. Every pool and every real
line is checked against the indicators first (``Oracle``, a plain reading of the matching
rules), so the only lines that can match are the planted ones: known indicators written as logs
write them, and near misses that must not match.

Figures: cache load time and scan throughput (medians of 3 runs of a fresh process that loads
the cache and scans through ``engine.scan_files``, as ``balai scan`` does), peak memory of that
process and its workers (summed RSS every 0.2 s, summed PSS every second), ``grep -F`` with the
same values and a plain read of the files as baselines, one timed run of the CLI itself,
whether every planted hit and nothing else was found, and how busy other work kept the machine
during each run. The data is made once in --work-dir and reused while its parameters match.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import itertools
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from balai.intel.models import ValueKind as K
from balai.intel.observables import Value
from balai.scan import cache, engine
from bench.scan_data import (
    API_KEY,
    RESULTS,
    SEED,
    SERVER,
    VERSION,
    build,
    console,
    rows,
)


class PeakMemory(threading.Thread):
    """The largest sums of RSS (every 0.2 s) and PSS (every second) over a process and its
    descendants. PSS counts pages shared by the forked workers once; reading it walks the
    page tables (about 10 ms for 800 MB), so it is read less often, not to slow the scan."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.pss, self.rss = pid, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        for sample in itertools.count():
            if self.done.wait(0.2):
                return
            name, field = ("smaps_rollup", "Pss:") if sample % 5 == 0 else ("status", "VmRSS:")
            total = 0
            for pid in _tree(self.pid):
                try:
                    text = Path(f"/proc/{pid}/{name}").read_text()
                except OSError:
                    continue
                start = text.find(field)
                total += int(text[start:].split()[1]) * 1024 if start >= 0 else 0
            if field == "Pss:":
                self.pss = max(self.pss, total)
            else:
                self.rss = max(self.rss, total)


def _tree(root: int) -> list[int]:
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                queue.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return found


def child(spec: dict[str, Any]) -> None:
    """In a fresh process, as `balai scan` does: load the cache, then scan the files."""
    started = time.perf_counter()
    loaded = cache.load(Path(spec["cache"]))
    loaded_at = time.perf_counter()
    files = engine.find_files(spec["paths"])
    profile = cProfile.Profile() if spec.get("profile") else None
    if profile is not None:
        profile.enable()
    hits = list(engine.scan_files(loaded.indicators, files, jobs=spec["jobs"]))
    done = time.perf_counter()
    if profile is not None:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    found = [[hit.file, hit.hit.line, hit.hit.indicator, hit.hit.kind.value] for hit in hits]
    result = {"load_s": loaded_at - started, "scan_s": done - loaded_at, "values": loaded.values}
    Path(spec["out"]).write_text(json.dumps(result | {"hits": found}))


def busy_seconds() -> float:
    """CPU seconds the machine has been busy since it started, all processors together."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


def own_seconds() -> float:
    """CPU seconds of this process and of its children that have ended."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """`child` in a subprocess, with the peak memory of its process tree and how many
    processors other work on the machine kept busy meanwhile (the noise)."""
    command = [sys.executable, "-m", "bench.scan_bench", "--child", json.dumps(spec)]
    busy, own, started = busy_seconds(), own_seconds(), time.perf_counter()
    process = subprocess.Popen(command, cwd=Path(__file__).parents[1])
    sampler = PeakMemory(process.pid)
    sampler.start()
    if process.wait() != 0:
        sys.exit(f"the scan failed: {command}")
    sampler.done.set()
    sampler.join()
    others = busy_seconds() - busy - (own_seconds() - own)
    result: dict[str, Any] = json.loads(Path(spec["out"]).read_text())
    return result | {
        "peak_pss_mb": sampler.pss / 1e6,
        "peak_rss_mb": sampler.rss / 1e6,
        "other_cpus": max(others, 0) / (time.perf_counter() - started),
    }


def timed(command: list[str], *, ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    """Seconds a command takes, and its output. The output goes to a pipe, not /dev/null:
    GNU grep stops at the first match when its output is /dev/null."""
    env = dict(os.environ, LC_ALL="C")
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, env=env, check=False, text=True)
    if done.returncode not in ok:
        sys.exit(f"{command[0]} failed with status {done.returncode}")
    return time.perf_counter() - started, done.stdout


def read_all(files: list[Path]) -> float:
    """Seconds to read the files in 8 MB blocks, decompressing as the scanner does."""
    started = time.perf_counter()
    for path in files:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as stream:
            while stream.read(8 << 20):
                pass
    return time.perf_counter() - started


def sample_of(work: Path, plain: list[Path], megabytes: float) -> Path:
    """The first part of each plain file, `megabytes` in all, in one file."""
    total = sum(path.stat().st_size for path in plain)
    sample = work / "sample" / "sample.log"
    sample.parent.mkdir(exist_ok=True)
    with sample.open("wb") as out:
        for path in plain:
            with path.open("rb") as stream:
                out.write(stream.read(int(megabytes * 1e6 * path.stat().st_size / total)))
                out.write(stream.readline())
    return sample


def check(result: dict[str, Any], plants: list[dict[str, Any]], logs: Path) -> dict[str, Any]:
    """Planted hits found, missed and hits that should not be there."""
    expected = {(p["file"], p["line"], p["indicator"]) for p in plants if p["indicator"]}
    got = {(Path(f).relative_to(logs).as_posix(), line, ind) for f, line, ind, _ in result["hits"]}
    by_place = {(p["file"], p["line"]): p for p in plants}
    missed = sorted(expected - got)
    false = sorted(got - expected)
    return {
        "expected": len(expected),
        "found": len(expected & got),
        "missed": [[*m, by_place[m[:2]]["label"], by_place[m[:2]]["text"]] for m in missed],
        "false": [[*f, by_place.get(f[:2], {}).get("label", "filler")] for f in false],
    }


def prepare(work: Path, params: dict[str, Any]) -> dict[str, Any]:
    """The work folder's data, made again unless it was made with the same parameters."""
    manifest_file = work / "manifest.json"
    if manifest_file.exists():
        manifest: dict[str, Any] = json.loads(manifest_file.read_text())
        if manifest["params"] == params and all(
            (work / "logs" / f["name"]).exists() for f in manifest["files"]
        ):
            console.print(f"reusing the data in {work}")
            return manifest
        manifest_file.unlink()
    work.mkdir(parents=True, exist_ok=True)
    for old in (work / "logs").glob("*"):
        old.unlink()
    manifest = build(work, params)
    manifest_file.write_text(json.dumps(manifest, indent=1))
    return manifest


def scan_once(spec: dict[str, Any], label: str) -> dict[str, Any]:
    result = run_child(spec)
    console.print(
        f"{label}: load {result['load_s']:.2f} s, scan {result['scan_s']:.2f} s,"
        f" peak PSS {result['peak_pss_mb']:.0f} MB, {len(result['hits']):,} hits;"
        f" other work kept {result['other_cpus']:.2f} processors busy"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="uncompressed size of the logs")
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/balai-scan-bench"))  # noqa: S108  # a scratch folder, reused on purpose
    parser.add_argument("--planted", type=int, default=2000, help="lines planted to hit")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-grep", action="store_true")
    parser.add_argument(
        "--grep-sample-mb",
        type=float,
        default=0,
        help="grep (and the scanner, to"
        " compare) the first N MB of the plain files only; 0: all of them",
    )
    parser.add_argument(
        "--profile-mb",
        type=float,
        default=0,
        help="also profile a one-process scan of the first N MB of the plain files",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    work: Path = args.work_dir
    params = {
        "version": VERSION,
        "seed": SEED,
        "size_gb": args.size_gb,
        "indicators": args.indicators,
        "planted": args.planted,
    }
    manifest = prepare(work, params)
    logs = work / "logs"
    files = engine.find_files([str(logs)])
    plain = [path for path in files if path.suffix != ".gz"]
    size = sum(f["bytes"] for f in manifest["files"])
    lines = sum(f["lines"] for f in manifest["files"])
    # The cache is written anew each time, as a download would: its format is the code's.
    console.print("filling the scanner's cache …")
    cache_file = cache.cache_path(work / "cache", SERVER, API_KEY)
    listed = (line.split("\t") for line in (work / "indicators.tsv").read_text().splitlines())
    cache.write(cache_file, SERVER, rows([Value(K(kind), value) for kind, value in listed]))
    spec = {
        "cache": str(cache_file),
        "paths": [str(logs)],
        "jobs": args.jobs,
        "out": str(work / "run.json"),
    }
    figures: dict[str, Any] = {
        "corpus_files": len(files),
        "corpus_mb": round(size / 1e6),
        "corpus_lines": lines,
        "corpus_mb_on_disk": round(sum(path.stat().st_size for path in files) / 1e6),
        "indicators_in_cache": sum(manifest["indicator_kinds"].values()),
        "jobs": args.jobs,
    }

    console.print("reading the files (the floor; this also warms the page cache) …")
    floor = statistics.median(read_all(files) for _ in range(3))
    runs = [scan_once(spec, f"scan {n + 1}/{args.runs}") for n in range(args.runs)]
    verdicts = [check(run, manifest["plants"], logs) for run in runs]
    scan_s = statistics.median(run["scan_s"] for run in runs)
    figures |= {
        "indicators_loaded": runs[0]["values"],
        "load_s_median": round(statistics.median(run["load_s"] for run in runs), 2),
        "scan_s_median": round(scan_s, 2),
        "scan_mb_per_s": round(size / 1e6 / scan_s, 1),
        "scan_lines_per_s": round(lines / scan_s),
        "peak_pss_mb_max": round(max(run["peak_pss_mb"] for run in runs)),
        "peak_rss_sum_mb_max": round(max(run["peak_rss_mb"] for run in runs)),
        "read_floor_mb_per_s": round(size / 1e6 / floor, 1),
        "scan_vs_read_floor": round(floor / scan_s, 3),
        "planted_found": f"{verdicts[0]['found']}/{verdicts[0]['expected']}",
        "near_misses": sum(1 for p in manifest["plants"] if not p["indicator"]),
        "false_hits": len(verdicts[0]["false"]),
        "runs_agree": all(v == verdicts[0] for v in verdicts),
        "scan_s_runs": [round(run["scan_s"], 1) for run in runs],
        "other_cpus_during_runs": [round(run["other_cpus"], 2) for run in runs],
    }

    if not args.skip_grep:
        figures |= versus_grep(work, spec, plain, args.grep_sample_mb, args.runs)
    figures |= cli_run(work, args.jobs, runs[0]["hits"])

    if args.profile_mb:
        sample = sample_of(work, plain, args.profile_mb)
        console.print(f"profile: one process, {sample.stat().st_size / 1e6:.0f} MB")
        run_child(spec | {"paths": [str(sample)], "jobs": 1, "profile": True})
    report(figures, verdicts[0], manifest)
    (work / "results.json").write_text(json.dumps(figures | {"check": verdicts[0]}, indent=1))
    if RESULTS.is_dir():
        (RESULTS / "scan.json").write_text(json.dumps(figures, indent=1))


def versus_grep(
    work: Path, spec: dict[str, Any], plain: list[Path], sample_mb: float, runs: int
) -> dict[str, Any]:
    """grep -F with the same values on the plain files (or a sample), and the scanner on them."""
    target = [sample_of(work, plain, sample_mb)] if sample_mb else plain
    target_mb = sum(path.stat().st_size for path in target) / 1e6
    grep = ["grep", "-F", "-c", "-f", str(work / "values.txt")]
    setup, counts = timed([*grep, "/dev/null"], ok=(0, 1))
    grep_runs: list[float] = []
    same = []
    # Turn about, so that a slower spell of the machine does not fall on one side only.
    for n in range(runs):
        same.append(
            scan_once(spec | {"paths": list(map(str, target))}, f"scan, grep's files {n + 1}")
        )
        if sum(grep_runs) < 300:  # at most about 5 minutes of grep
            seconds, counts = timed([*grep, *map(str, target)], ok=(0, 1))
            grep_runs.append(seconds)
            console.print(f"grep -F {n + 1}: {seconds:.1f} s")
    grep_s = statistics.median(grep_runs)
    same_s = statistics.median(run["scan_s"] for run in same)
    net = grep_s > 2 * setup  # grep's start (building its automaton) can be told apart
    return {
        "grep_files_mb": round(target_mb),
        "grep_setup_s": round(setup, 2),
        "grep_s_median": round(grep_s, 2),
        "grep_runs": len(grep_runs),
        "grep_matching_lines": sum(int(n.rpartition(":")[2]) for n in counts.split()),
        "grep_mb_per_s": round(target_mb / grep_s, 1),
        "grep_mb_per_s_without_setup": round(target_mb / (grep_s - setup), 1) if net else None,
        "scan_same_files_mb_per_s": round(target_mb / same_s, 1),
        "scan_vs_grep": round(grep_s / same_s, 2),
        "scan_vs_grep_without_setup": round((grep_s - setup) / same_s, 2) if net else None,
    }


def cli_run(work: Path, jobs: int, engine_hits: list[list[Any]]) -> dict[str, Any]:
    """`balai scan` itself, once, from the cache; whether it finds what the engine found."""
    console.print("the CLI, once: balai scan --offline (the cache) --format jsonl …")
    out, logs = work / "cli-hits.jsonl", work / "logs"
    server = ["--server", SERVER, "--api-key", API_KEY, "--offline", "--jobs", str(jobs)]
    command = [sys.executable, "-m", "balai", "scan", *server, "--format", "jsonl"]
    os.environ["BALAI_CACHE_DIR"] = str(work / "cache")
    seconds, _ = timed([*command, "-o", str(out), str(logs)], ok=(1,))
    found = {(r["file"], r["line"], r["indicator"]) for r in map(json.loads, out.open())}
    same = found == {(f, line, indicator) for f, line, indicator, _ in engine_hits}
    return {"cli_wall_s": round(seconds, 1), "cli_hits_same_as_engine": same}


def report(figures: dict[str, Any], verdict: dict[str, Any], manifest: dict[str, Any]) -> None:
    table = Table(title="Log scanner benchmark")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(
            key,
            f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value),
        )
    console.print(table)
    console.print(f"indicator kinds: {manifest['indicator_kinds']}")
    console.print(f"real lines left out for holding an indicator: {manifest['real_lines_dropped']}")
    for title, lines in (("missed", verdict["missed"]), ("false hits", verdict["false"])):
        if lines:
            console.print(f"[red]{title}: {len(lines)}[/red]", *lines[:20], sep="\n")


if __name__ == "__main__":
    main()
