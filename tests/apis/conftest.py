"""The served-API tests' report: the cases schemathesis sent per operation
(tests/apis/test_schemathesis.py), printed at the end of the run."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

# {test name: Counter({(operation, phase or status class): cases})}
_CASES = pytest.StashKey[dict[str, Counter]]()
_SEED = pytest.StashKey[int]()


def record_cases(config: pytest.Config, test: str, counts: Counter, seed: int) -> None:
    """Add one test's cases, by operation and phase (and by operation and
    status class: "2xx", "4xx"), to the report, with the seed they came from."""
    config.stash.setdefault(_CASES, defaultdict(Counter))[test].update(counts)
    config.stash[_SEED] = seed


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    by_test = config.stash.get(_CASES, None)
    if not by_test:
        return
    terminalreporter.section("schemathesis: cases sent per operation")
    seed = config.stash[_SEED]
    terminalreporter.write_line(f"seed {seed} (SCHEMATHESIS_SEED={seed} replays it)")
    for test, counts in sorted(by_test.items()):
        phases: dict[str, Counter] = defaultdict(Counter)
        answers: dict[str, Counter] = defaultdict(Counter)
        for (operation, kind), count in counts.items():
            (answers if kind.endswith("xx") else phases)[operation][kind] += count
        terminalreporter.write_line(f"{test}:")
        for operation in sorted(phases, key=lambda label: label.split(" ")[::-1]):
            detail = "; ".join(
                ", ".join(f"{kind} {n}" for kind, n in sorted(counted.items()))
                for counted in (phases[operation], answers[operation])
            )
            total = sum(phases[operation].values())
            terminalreporter.write_line(f"  {total:5d}  {operation}  ({detail})")
        total = sum(sum(by_phase.values()) for by_phase in phases.values())
        terminalreporter.write_line(f"  {total:5d}  in all")
