#!/usr/bin/env python3
"""Prints the per-test table of one or more ctest runs (scripts/test.sh ends with it).

Usage: scripts/test-report.py [--phases FILE] <label>=<build-dir> [<label>=<build-dir> ...]

For each build directory it reads
  - test-results/manifest.tsv  (written by CMake, cmake/payoutd_tests.cmake: one line per CTest
    entry: name, test binary, group, group filter, filter),
  - test-results/<ctest-name>.json  (GoogleTest's GTEST_OUTPUT of that entry),
  - test-results/ctest-junit.xml  (ctest --output-junit: each entry's wall time and status),
and prints one row per CTest entry: ctest's wall time and status, GoogleTest's test count,
failures and skips. Then, per group (a binary, or a binary on one backend), it checks that the
entries together ran each test of the group exactly once: the union of the JSON files is compared
with `<binary> --gtest_list_tests` under the group's filter.

--phases FILE: lines "<phase name>\\t<seconds>" (scripts/test.sh writes them) printed at the end.
Exit status: 0 when every group is complete and without duplicates, 1 otherwise.
"""
import collections
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

LIMIT_SECONDS = 180


def read_manifest(build_dir):
    path = os.path.join(build_dir, "test-results", "manifest.tsv")
    entries = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            name, binary, group, group_filter, test_filter = line.split("\t")
            entries.append(dict(name=name, binary=binary, group=group,
                                group_filter=group_filter, filter=test_filter))
    return entries


def read_junit(build_dir):
    """ctest name -> (seconds, status) from ctest's JUnit file."""
    path = os.path.join(build_dir, "test-results", "ctest-junit.xml")
    result = {}
    if not os.path.exists(path):
        return result
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return result
    for case in root.iter("testcase"):
        status = case.get("status", "run")
        if case.find("failure") is not None:
            status = "FAILED"
        elif case.find("skipped") is not None or status in ("notrun", "disabled"):
            status = "not run"
        else:
            status = "ok"
        result[case.get("name")] = (float(case.get("time", "0") or 0), status)
    return result


def read_gtest_json(build_dir, name):
    """(tests, failures, skipped, seconds, [full names run]) or None when no JSON was written."""
    path = os.path.join(build_dir, "test-results", name + ".json")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    names, skipped, failures = [], 0, 0
    for suite in data.get("testsuites", []):
        for test in suite.get("testsuite", []):
            if test.get("status") == "NOTRUN":
                continue
            names.append(suite["name"] + "." + test["name"])
            if test.get("result") == "SKIPPED":
                skipped += 1
            if test.get("failures"):
                failures += 1
    seconds = float(str(data.get("time", "0s")).rstrip("s") or 0)
    return len(names), failures, skipped, seconds, names


def listed_tests(binary, test_filter):
    env = dict(os.environ)
    for key in ("GTEST_TOTAL_SHARDS", "GTEST_SHARD_INDEX", "GTEST_OUTPUT"):
        env.pop(key, None)
    env["GTEST_FILTER"] = test_filter
    try:
        out = subprocess.run([binary, "--gtest_list_tests"], env=env, capture_output=True,
                             text=True, timeout=120, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    names, suite = [], None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            suite = line.split("#")[0].strip()
        else:
            name = suite + line.split("#")[0].strip()
            # Disabled tests are listed but never run (and reported as NOTRUN).
            if not any(part.startswith("DISABLED_") for part in name.split(".")):
                names.append(name)
    return names


def fmt_seconds(seconds):
    return "-" if seconds is None else f"{seconds:.1f}"


def report(label, build_dir):
    entries = read_manifest(build_dir)
    junit = read_junit(build_dir)
    ok = True
    rows = []
    total_wall, total_tests = 0.0, 0
    group_runs = collections.defaultdict(list)
    for entry in entries:
        wall, status = junit.get(entry["name"], (None, "not run"))
        gtest = read_gtest_json(build_dir, entry["name"])
        if gtest is None:
            tests = failures = skipped = "-"
            if status == "ok":
                status = "ok, no JSON"
        else:
            tests, failures, skipped, _, names = gtest
            group_runs[entry["group"]].extend(names)
            total_tests += tests
        if wall is not None:
            total_wall += wall
        rows.append((entry["name"], fmt_seconds(wall), str(tests), str(failures), str(skipped),
                     status))
    print(f"\n== {label}: {build_dir} ==")
    header = ("CTest test", "wall s", "tests", "failed", "skipped", "status")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) if i in (0, 5) else h.rjust(w)
                     for i, (h, w) in enumerate(zip(header, widths)))
    print(line)
    print("-" * len(line))
    for row in sorted(rows, key=lambda r: -(float(r[1]) if r[1] != "-" else 0)):
        print("  ".join(c.ljust(w) if i in (0, 5) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))
    print("-" * len(line))
    print(f"{'total (' + str(len(rows)) + ' CTest tests)'.ljust(widths[0])}  "
          f"{fmt_seconds(total_wall).rjust(widths[1])}  {str(total_tests).rjust(widths[2])}"
          "   (wall: sum over tests; ctest -j runs them side by side)")
    over = [r for r in rows if r[1] != "-" and float(r[1]) > LIMIT_SECONDS]
    if over:
        print(f"over {LIMIT_SECONDS} s (issue 17's limit per CTest test): "
              + ", ".join(f"{r[0]} {r[1]} s" for r in over))
    # Every test of every group exactly once.
    groups = collections.OrderedDict()
    for entry in entries:
        groups.setdefault(entry["group"], entry)
    print("groups (each test of the group run exactly once by its entries):")
    for group, entry in groups.items():
        expected = listed_tests(entry["binary"], entry["group_filter"])
        ran = collections.Counter(group_runs.get(group, []))
        if expected is None:
            print(f"  {group}: cannot list the tests of {entry['binary']}")
            ok = False
            continue
        missing = [t for t in expected if t not in ran]
        twice = [t for t, n in ran.items() if n > 1]
        extra = [t for t in ran if t not in set(expected)]
        verdict = "ok" if not (missing or twice or extra) else "MISMATCH"
        if verdict != "ok":
            ok = False
        print(f"  {group}: {len(expected)} listed, {sum(ran.values())} run, "
              f"{len(set(ran))} distinct: {verdict}")
        for title, items in (("not run", missing), ("run twice", twice), ("not listed", extra)):
            if items:
                shown = ", ".join(items[:10]) + (" ..." if len(items) > 10 else "")
                print(f"    {title} ({len(items)}): {shown}")
    return ok


def main(argv):
    phases = None
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--phases":
        phases, args = args[1], args[2:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    ok = True
    for arg in args:
        label, _, build_dir = arg.partition("=")
        if not build_dir:
            label, build_dir = arg, arg
        if not os.path.exists(os.path.join(build_dir, "test-results", "manifest.tsv")):
            print(f"\n== {label}: {build_dir}: no test-results/manifest.tsv (not built) ==")
            ok = False
            continue
        ok = report(label, build_dir) and ok
    if phases and os.path.exists(phases):
        print("\nphases (wall):")
        rows = []
        with open(phases, encoding="utf-8") as f:
            for line in f:
                name, _, seconds = line.rstrip("\n").partition("\t")
                if seconds:
                    rows.append((name, int(seconds)))
        given_total = [s for n, s in rows if n == "total"]
        rows = [(n, s) for n, s in rows if n != "total"]
        rows.append(("total", given_total[0] if given_total else sum(s for _, s in rows)))
        for name, seconds in rows:
            print(f"  {name.ljust(16)} {seconds // 60:3d}m{seconds % 60:02d}s  ({seconds} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
