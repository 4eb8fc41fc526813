"""The served-API tests' report: what schemathesis sent per operation and
what came back (tests/apis/test_schemathesis.py), printed at the end of the
run."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

# {test name: {what: Counter({(operation, kind): count})}}, "what" being
# "phase" (cases by phase), "mode" (positive / negative), "answer" (by status
# class), "probe" (ignored_auth's probes by status), "step" (stateful steps,
# linked or not).
_CASES = pytest.StashKey[dict[str, dict[str, Counter]]]()
_SEED = pytest.StashKey[int]()


def record_cases(
    config: pytest.Config, test: str, counts: dict[str, Counter], seed: int
) -> None:
    """Add one test's counts, by operation, to the report, with the seed its
    cases came from."""
    by_what = config.stash.setdefault(_CASES, {}).setdefault(test, defaultdict(Counter))
    for what, counted in counts.items():
        by_what[what].update(counted)
    config.stash[_SEED] = seed


def _by_operation(counted: Counter) -> dict[str, Counter]:
    operations: dict[str, Counter] = defaultdict(Counter)
    for (operation, kind), count in counted.items():
        operations[operation][kind] += count
    return operations


def _spelled(counted: Counter) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counted.items()))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    by_test = config.stash.get(_CASES, None)
    if not by_test:
        return
    terminalreporter.section("schemathesis: cases sent per operation")
    seed = config.stash[_SEED]
    terminalreporter.write_line(f"seed {seed} (SCHEMATHESIS_SEED={seed} replays it)")
    for test, by_what in sorted(by_test.items()):
        tables = {what: _by_operation(by_what[what]) for what in by_what}
        terminalreporter.write_line(f"{test}:")
        operations = set().union(*(table.keys() for table in tables.values()))
        for operation in sorted(operations, key=lambda label: label.split(" ")[::-1]):
            parts = [
                _spelled(tables[what][operation])
                for what in ("phase", "step", "mode", "answer")
                if tables.get(what, {}).get(operation)
            ]
            probes = tables.get("probe", {}).get(operation)
            if probes:
                parts.append(f"ignored_auth probes: {_spelled(probes)}")
            sent = tables.get("phase", {}).get(operation) or tables["step"][operation]
            terminalreporter.write_line(
                f"  {sum(sent.values()):5d}  {operation}  ({'; '.join(parts)})"
            )
        totals = {what: Counter() for what in by_what}
        for what, counted in by_what.items():
            for (_, kind), count in counted.items():
                totals[what][kind] += count
        sent = totals.get("phase") or totals.get("step") or Counter()
        summary = [
            _spelled(totals[what]) for what in ("mode", "answer") if totals.get(what)
        ]
        if totals.get("step"):
            summary.insert(0, f"steps: {_spelled(totals['step'])}")
        if totals.get("probe"):
            summary.append(f"ignored_auth probes: {_spelled(totals['probe'])}")
        terminalreporter.write_line(
            f"  {sum(sent.values()):5d}  in all ({'; '.join(summary)})"
        )
