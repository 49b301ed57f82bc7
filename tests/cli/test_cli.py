"""The command line: `python -m engine validate | diagram | log | status`, in-process through
`engine.cli.main.main` (and end to end as a subprocess for the exit codes).

Journal and snapshot data are produced by driving the real PositionBook.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from engine.cli import log_cmd
from engine.cli.main import main
from engine.inspect.transitions_log import LogFilter, follow
from engine.positions.book import JOURNAL_FILE, PositionBook
from engine.positions.events import load_position_machine
from engine.store.fsio import to_json
from engine.store.sealed import seal
from tests.positions.support import MACHINE_FILE, REPO, T0, Env, fill, machine, plan

S = timedelta(seconds=1)
M = timedelta(minutes=1)
# (seq, position, symbol, event, from, to) of the journal `populate` writes.
RECORDS = [
    (1, "P1", "BTC/USDC:USDC", "signal", "idle", "entering"),
    (2, "P1", "BTC/USDC:USDC", "entry_filled", "entering", "open"),
    (3, "P2", "ETH/USDT:USDT", "signal", "idle", "entering"),
    (4, "P2", "ETH/USDT:USDT", "entry_rejected", "entering", "closed"),
    (5, "P3", "BTC/USDT:USDT", "signal", "idle", "entering"),
    (6, "P1", "BTC/USDC:USDC", "tp_filled", "open", "partial_tp"),
]
TIMES = [T0, T0 + 2 * S, T0 + M, T0 + M + S, T0 + 2 * M, T0 + 3 * M]


def populate(state: Path) -> Path:
    """Three positions: P1 open then partial_tp, P2 rejected (closed), P3 entering."""
    book = PositionBook(machine(), state)
    book.open()
    env = Env()
    p1 = book.new_position("BTC/USDC:USDC")
    assert book.apply(p1, "signal", {"plan": plan()}, now=TIMES[0], env=env).applied
    assert book.apply(p1, "entry_filled", fill("0.010", "60010.0"), now=TIMES[1], env=env).applied
    tp1 = next(i.client_id for i in p1.intents if i.tp_step == 1)
    p2 = book.new_position("ETH/USDT:USDT")
    assert book.apply(p2, "signal", {"plan": plan("short")}, now=TIMES[2], env=env).applied
    assert book.apply(
        p2, "entry_rejected", {"code": -2019, "msg": "Margin is insufficient"}, now=TIMES[3], env=env
    ).applied
    p3 = book.new_position("BTC/USDT:USDT")
    assert book.apply(p3, "signal", {"plan": plan()}, now=TIMES[4], env=env).applied
    assert book.apply(p1, "tp_filled", fill("0.004", "60240.0", client_id=tp1), now=TIMES[5], env=env).applied
    book.close()
    return state


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return populate(tmp_path / "state" / "demo")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def seqs(out: str) -> list[int]:
    return [r["seq"] for r in json_lines(out)]


def bad_machine(tmp_path: Path) -> tuple[Path, int, str]:
    text = MACHINE_FILE.read_text(encoding="utf-8")
    assert "    to: partial_tp\n" in text
    bad = text.replace("    to: partial_tp\n", "    to: partial_tpp\n", 1)
    path = tmp_path / "bad_machine.yaml"
    path.write_text(bad, encoding="utf-8")
    line = next(i for i, s in enumerate(bad.splitlines(), start=1) if "partial_tpp" in s)
    index = next(
        i for i, t in enumerate(load_position_machine(MACHINE_FILE).spec.transitions) if t.to == "partial_tp"
    )
    return path, line, f"transitions[{index}].to"


def write_profile(tmp_path: Path, name: str = "demo", body: str = "") -> Path:
    path = tmp_path / "profiles" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"name: {name}\nruntime:\n  state_dir: {tmp_path / 'state'}\n  machine: {MACHINE_FILE}\n{body}",
        encoding="utf-8",
    )
    return path


# --- help and argument errors --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("validate", ["path", "--quiet"]),
        ("diagram", ["machine", "--position", "--state", "--profile", "--format", "mermaid,svg,png", "-o"]),
        (
            "log",
            [
                "--position",
                "--symbol",
                "--event",
                "--since",
                "--tail",
                "--follow",
                "--json",
                "--state",
                "--profile",
            ],
        ),
        ("status", ["profile", "--json"]),
    ],
)
def test_help_for_every_command(capsys: pytest.CaptureFixture[str], command: str, options: list[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m engine {command}")
    for option in options:
        assert option in out, f"{option} missing from `{command} --help`"


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("validate", "diagram", "log", "status"):
        assert command in out
    assert "Exit codes: 0 ok, 1 runtime failure, 2 bad input" in out


@pytest.mark.parametrize(
    "argv", [[], ["frobnicate"], ["validate"], ["diagram", "--format", "gif"], ["log", "--tail", "many"]]
)
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "Traceback" not in err


# --- validate ----------------------------------------------------------------------------------
def test_validate_good_machine(capsys: pytest.CaptureFixture[str]) -> None:
    spec = load_position_machine(MACHINE_FILE).spec
    code, out, err = run(capsys, "validate", str(MACHINE_FILE))
    assert code == 0, err
    counts = f"{len(spec.states)} states, {len(spec.transitions)} transitions"
    assert f"OK {MACHINE_FILE}: machine 'position': {counts}" in out
    assert err == ""


def test_validate_quiet_prints_nothing_on_success(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "validate", "-q", str(MACHINE_FILE)) == (0, "", "")


def test_validate_good_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path)
    code, out, err = run(capsys, "validate", str(profile))
    assert code == 0, err
    state_dir = tmp_path / "state" / "demo"
    assert f"OK {profile}: profile 'demo' (paper), machine {MACHINE_FILE}, state in {state_dir}" in out
    assert "name: demo" in out and "max_positions: 5" in out
    assert "slippage_bps: null" in out and "not set: market-aware slippage" in out


def test_validate_says_a_pinned_slippage_is_flat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path, body="venue:\n  slippage_bps: 3\n")
    code, out, err = run(capsys, "validate", str(profile))
    assert code == 0, err
    assert "slippage_bps: 3.0" in out and "market-aware" not in out


def test_validate_bad_machine_exits_2_with_file_line_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, line, key = bad_machine(tmp_path)
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {path}:{line}: {key}: unknown state 'partial_tpp'")
    assert "Traceback" not in err


def test_validate_bad_profile_exits_2_with_file_line_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = write_profile(tmp_path, body="risk:\n  max_positions: 0\n")
    line = profile.read_text().splitlines().index("  max_positions: 0") + 1
    code, out, err = run(capsys, "validate", str(profile))
    assert code == 2
    assert f"{profile}:{line}: risk.max_positions: Input should be greater than or equal to 1" in err
    assert "Traceback" not in err


def test_validate_yaml_syntax_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nstates:\n  idle: [\n", encoding="utf-8")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2
    assert f"error: {path}:" in err and "YAML syntax error" in err and "Traceback" not in err


def test_validate_nonexistent_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run(capsys, "validate", str(missing))
    assert code == 2
    assert err.strip() == f"error: {missing}: file not found"


# --- diagram -----------------------------------------------------------------------------------
def test_diagram_mermaid_has_every_state_and_event(capsys: pytest.CaptureFixture[str]) -> None:
    spec = load_position_machine(MACHINE_FILE).spec
    code, out, err = run(capsys, "diagram", str(MACHINE_FILE))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> idle" in lines
    edges = [line.strip() for line in lines if " --> " in line and "[*]" not in line]
    drawn = {part for e in edges for part in (e.split(" --> ")[0], e.split(" --> ")[1].split(":")[0])}
    assert drawn == set(spec.states)
    for t in spec.transitions:
        for src in t.source:
            assert any(e.startswith(f"{src} --> {t.to}:") and t.event in e for e in edges), (src, t.event)
    assert "    closed --> [*]" in lines
    assert "    class emergency emergency" in lines
    assert "current" not in out


def test_diagram_mermaid_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "machine.mmd"
    code, out, _ = run(capsys, "diagram", str(MACHINE_FILE), "-o", str(target))
    assert code == 0 and out == ""
    assert target.read_text(encoding="utf-8").startswith("stateDiagram-v2\n")


def test_diagram_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.svg"
    code, out, err = run(capsys, "diagram", str(MACHINE_FILE), "-o", str(target))
    assert code == 0, err
    assert f"wrote {target}" in out
    svg = target.read_text(encoding="utf-8")
    assert svg.startswith("<?xml") or "<svg" in svg
    assert "<svg" in svg
    for name in load_position_machine(MACHINE_FILE).spec.states:
        assert f">{name}<" in svg


def test_diagram_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.png"
    code, _, err = run(capsys, "diagram", str(MACHINE_FILE), "-o", str(target))
    assert code == 0, err
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000


def test_diagram_format_flag_overrides_the_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "drawing.out"
    code, _, err = run(capsys, "diagram", str(MACHINE_FILE), "--format", "png", "-o", str(target))
    assert code == 0, err
    assert target.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [(["--format", "svg"], "--format svg needs -o FILE"), (["-o", "x.gif"], "cannot tell the format")],
)
def test_diagram_format_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], phrase: str
) -> None:
    argv = [str(tmp_path / a) if a.endswith(".gif") else a for a in argv]
    code, _, err = run(capsys, "diagram", str(MACHINE_FILE), *argv)
    assert code == 2
    assert phrase in err and "Traceback" not in err
    assert not (tmp_path / "x.gif").exists()


def test_diagram_of_a_bad_machine_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, line, key = bad_machine(tmp_path)
    code, _, err = run(capsys, "diagram", str(path))
    assert code == 2
    assert f"{path}:{line}: {key}:" in err


def test_diagram_highlights_a_positions_path(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diagram", str(MACHINE_FILE), "--position", "P1", "--state", str(state))
    assert code == 0, err
    lines = [line.strip() for line in out.splitlines()]
    assert "%% position P1: now in partial_tp" in lines
    assert "class partial_tp current" in lines
    assert {"class idle visited", "class entering visited", "class open visited"} <= set(lines)
    assert "class closed visited" not in lines
    numbered = {line.split(":")[0]: line for line in lines if "(#" in line}
    assert set(numbered) == {"idle --> entering", "entering --> open", "open --> partial_tp"}
    assert numbered["idle --> entering"].endswith("(#1)")
    assert numbered["entering --> open"].endswith("(#2)")
    assert numbered["open --> partial_tp"].endswith("(#3)")


def test_diagram_highlight_in_svg(state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "p1.svg"
    code, _, err = run(
        capsys, "diagram", str(MACHINE_FILE), "--position", "P3", "--state", str(state), "-o", str(target)
    )
    assert code == 0, err
    svg = target.read_text(encoding="utf-8")
    assert "position P3 now in entering" in svg
    assert "(#1)" in svg and "(#2)" not in svg


def test_diagram_unknown_position_exits_2(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diagram", str(MACHINE_FILE), "--position", "P99", "--state", str(state))
    assert code == 2
    assert out == ""
    assert "'P99'" in err and str(state / JOURNAL_FILE) in err and "Traceback" not in err


def test_diagram_position_with_missing_state_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "diagram", str(MACHINE_FILE), "--position", "P1", "--state", str(tmp_path / "none")
    )
    assert code == 2
    assert "no such folder" in err


# --- log ---------------------------------------------------------------------------------------
def test_log_table_shows_every_record(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "log", "--state", str(state))
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    assert [int(r[0]) for r in rows] == [r[0] for r in RECORDS]
    for row, (_seq, pos, symbol, event, src, dest), when in zip(rows, RECORDS, TIMES, strict=True):
        assert row[1:4] == [when.strftime("%Y-%m-%d"), when.strftime("%H:%M:%S"), pos]
        assert row[4:9] == [symbol, event, src, "→", dest]
    assert "-2019 Margin is insufficient" in out
    assert "long 0.010 @ 60000.0 SL 58800.0" in out


def test_log_json_lines(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "log", "--state", str(state), "--json")
    assert code == 0, err
    records = json_lines(out)
    assert [
        (r["seq"], r["position"], r["symbol"], r["event"], r["from"], r["to"]) for r in records
    ] == RECORDS
    assert [r["time"] for r in records] == [t.isoformat() for t in TIMES]
    for r in records:
        assert {"seq", "time", "position", "symbol", "event", "from", "to", "payload"} <= set(r)
    assert records[0]["payload"]["plan"]["qty"] == "0.010"
    assert records[3]["payload"] == {"code": -2019, "msg": "Margin is insufficient"}


def test_log_filter_position(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--position", "P2")
    assert code == 0 and seqs(out) == [3, 4]


@pytest.mark.parametrize("symbol", ["BTC/USDC:USDC", "BTC/USDC", "BTCUSDC", "btcusdc"])
def test_log_filter_symbol_spellings(state: Path, capsys: pytest.CaptureFixture[str], symbol: str) -> None:
    code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--symbol", symbol)
    assert code == 0
    assert seqs(out) == [1, 2, 6]  # not BTC/USDT:USDT (seq 5)


def test_log_filter_event(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--event", "signal")
    assert code == 0 and seqs(out) == [1, 3, 5]


def test_log_filters_combine(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "log", "--state", str(state), "--json", "--symbol", "BTC/USDT", "--event", "signal"
    )
    assert code == 0 and seqs(out) == [5]


@pytest.mark.parametrize(
    "since",
    ["2025-03-03T12:01:00", "2025-03-03T12:01:00+00:00", "2025-03-03T13:01:00+01:00", "2025-03-03 12:01"],
)
def test_log_since_iso(state: Path, capsys: pytest.CaptureFixture[str], since: str) -> None:
    code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--since", since)
    assert code == 0 and seqs(out) == [3, 4, 5, 6]


@pytest.mark.parametrize(
    ("since", "expected"),
    [("90s", [5, 6]), ("2m30s", [3, 4, 5, 6]), ("1h", [1, 2, 3, 4, 5, 6]), ("10s", [6])],
)
def test_log_since_duration(
    state: Path, capsys: pytest.CaptureFixture[str], since: str, expected: list[int]
) -> None:
    with freeze_time(T0 + 3 * M):
        code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--since", since)
    assert code == 0 and seqs(out) == expected


def test_log_tail(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--tail", "2")
    assert code == 0 and seqs(out) == [5, 6]
    code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--tail", "2", "--position", "P1")
    assert code == 0 and seqs(out) == [2, 6]
    code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--tail", "100")
    assert code == 0 and seqs(out) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["--since", "yesterday"], "--since 'yesterday': expected an ISO time"),
        (["--since", "10x"], "or a duration"),
        (["--tail", "0"], "--tail 0: expected a positive number"),
    ],
)
def test_log_bad_options_exit_2(
    state: Path, capsys: pytest.CaptureFixture[str], argv: list[str], phrase: str
) -> None:
    code, out, err = run(capsys, "log", "--state", str(state), *argv)
    assert code == 2
    assert out == ""
    assert phrase in err and "Traceback" not in err


def test_log_missing_state_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    code, _, err = run(capsys, "log", "--state", str(missing))
    assert code == 2
    assert err.strip() == f"error: --state {missing}: no such folder"


def test_log_without_any_state_folder_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "log")
    assert code == 2
    assert "no transition journal found under state/" in err and "--state DIR" in err


def test_log_finds_the_only_state_folder(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(state.parent.parent)  # holds state/demo/journal.jsonl
    code, out, _ = run(capsys, "log", "--json")
    assert code == 0 and seqs(out) == [1, 2, 3, 4, 5, 6]


def test_log_refuses_to_guess_between_state_folders(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    populate(state.parent / "other")
    monkeypatch.chdir(state.parent.parent)
    code, _, err = run(capsys, "log")
    assert code == 2
    assert "several state folders exist" in err and "demo" in err and "other" in err


def test_log_with_a_profile_reads_its_state_folder(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = write_profile(tmp_path)  # state_dir tmp_path/state, name demo → the `state` fixture
    code, out, _ = run(capsys, "log", "--profile", str(profile), "--json", "--position", "P3")
    assert code == 0 and seqs(out) == [5]


def test_log_state_folder_without_a_journal_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state" / "demo").mkdir(parents=True)
    code, _, err = run(capsys, "log", "--state", str(tmp_path / "state"))  # one level too high
    assert code == 2
    assert JOURNAL_FILE in err


def test_log_follow_prints_what_follow_yields(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = []
    extra = {
        "seq": 7,
        "time": (T0 + 4 * M).isoformat(),
        "position": "P1",
        "symbol": "BTC/USDC:USDC",
        "event": "sl_filled",
        "from": "partial_tp",
        "to": "closed",
        "payload": {},
    }

    def fake_follow(journal, flt, after_seq, after_n=0):
        calls.append((journal, flt, after_seq))
        yield extra
        raise KeyboardInterrupt

    monkeypatch.setattr(log_cmd, "follow", fake_follow)
    code, out, _ = run(capsys, "log", "--state", str(state), "--json", "--follow", "--position", "P2")
    assert code == 0
    assert seqs(out) == [3, 4, 7]
    [(journal, flt, after)] = calls
    assert journal == state / JOURNAL_FILE
    assert flt.position == "P2"
    assert after == 4  # the last record already shown


def test_follow_yields_new_matching_records(state: Path) -> None:
    journal = state / JOURNAL_FILE
    book = PositionBook(machine(), state)
    book.open()
    p1, p3 = book.live["P1"], book.live["P3"]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:  # a bot appends while we wait
            book.apply(p3, "entry_filled", fill("0.010", "60000.0"), now=T0 + 4 * M, env=Env())
            book.apply(p1, "sl_filled", fill("0.006", "58800.0"), now=T0 + 5 * M, env=Env())
        if len(sleeps) == 2:
            p4 = book.new_position("BTC/USDC:USDC")
            book.apply(p4, "signal", {"plan": plan()}, now=T0 + 6 * M, env=Env())

    try:
        got = list(
            follow(
                journal, LogFilter(symbol="BTCUSDC"), 6, poll=0.25, sleep=sleep, stop=lambda: len(sleeps) >= 3
            )
        )
    finally:
        book.close()
    assert [(r["seq"], r["position"], r["event"], r["to"]) for r in got] == [
        (8, "P1", "sl_filled", "closed"),
        (9, "P4", "signal", "entering"),
    ]
    assert sleeps == [0.25, 0.25, 0.25]


def test_follow_skips_old_records_and_a_partial_line(state: Path) -> None:
    journal = state / JOURNAL_FILE
    record = {
        "seq": 7,
        "time": (T0 + 4 * M).isoformat(),
        "position": "P9",
        "symbol": "BTC/USDC:USDC",
        "event": "signal",
        "from": "idle",
        "to": "entering",
        "payload": {},
    }
    line = seal(to_json(record))  # a line as the bot writes it (checksummed, like the lines before it)
    steps: list[int] = []

    def sleep(_: float) -> None:
        steps.append(1)
        with journal.open("ab") as fh:
            fh.write(line[:20] if len(steps) == 1 else line[20:])

    got = list(follow(journal, LogFilter(), 3, sleep=sleep, stop=lambda: len(steps) >= 3))
    assert [r["seq"] for r in got] == [4, 5, 6, 7]


def test_follow_waits_for_a_journal_that_does_not_exist_yet(tmp_path: Path) -> None:
    journal = tmp_path / "later" / JOURNAL_FILE
    steps: list[int] = []

    def sleep(_: float) -> None:
        steps.append(1)
        if len(steps) == 1:
            populate(journal.parent)

    got = list(
        follow(journal, LogFilter(event="entry_rejected"), 0, sleep=sleep, stop=lambda: len(steps) >= 2)
    )
    assert [r["seq"] for r in got] == [4]


# --- status ------------------------------------------------------------------------------------
def status_rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines() if line[:1] == "P"}


def test_status_table(state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path)
    with freeze_time(T0 + 5 * M):
        code, out, err = run(capsys, "status", str(profile))
    assert code == 0, err
    assert out.splitlines()[0] == f"profile demo (paper) · state {state} · seq 6 · 2 live position(s) · bot running"
    header = out.splitlines()[1].split()
    assert header[:5] == ["id", "symbol", "side", "state", "size"]
    assert "pending" in header and "intents" in header
    rows = status_rows(out)
    assert set(rows) == {"P1", "P3"}  # P2 is closed
    assert rows["P1"][:6] == ["P1", "BTC/USDC:USDC", "long", "partial_tp", "0.006", "60010.0"]
    assert rows["P1"][6] == "4m58s"  # since it opened at T0+2s
    assert rows["P3"][:6] == ["P3", "BTC/USDT:USDT", "long", "entering", "0.010", "-"]
    assert rows["P3"][6] == "3m00s"
    assert rows["P3"][7:9] == ["entry_timeout", "12:02:30"]
    p3_entry = json.loads((state / JOURNAL_FILE).read_text().splitlines()[4])["intents"][0]["client_id"]
    assert f"entry {p3_entry}" in out
    # P1's last transition (tp_filled) moved the stop: a new stop-loss and a cancel are pending
    line = next(line for line in out.splitlines() if line.startswith("P1 "))
    assert "stop_loss " in line and "cancel " in line


def test_status_json(state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path)
    code, out, err = run(capsys, "status", str(profile), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["profile"] == "demo"
    assert data["state_dir"] == str(state)
    assert data["seq"] == 6
    positions = {p["id"]: p for p in data["positions"]}
    assert list(positions) == ["P1", "P3"]
    p1, p3 = positions["P1"], positions["P3"]
    assert (p1["symbol"], p1["side"], p1["state"], p1["qty"]) == (
        "BTC/USDC:USDC",
        "long",
        "partial_tp",
        "0.006",
    )
    assert (p3["symbol"], p3["side"], p3["state"], p3["qty"]) == ("BTC/USDT:USDT", "long", "entering", "0")
    assert [i["kind"] for i in p3["intents"]] == ["entry"]
    assert p3["intents"][0]["qty"] == "0.010"
    assert sorted(i["kind"] for i in p1["intents"]) == ["cancel", "stop_loss"]


def test_status_without_state_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path, name="fresh")
    code, out, _ = run(capsys, "status", str(profile))
    assert code == 0
    assert "profile fresh (paper)" in out and "seq 0 · 0 live position(s)" in out
    code, out, _ = run(capsys, "status", str(profile), "--json")
    assert json.loads(out)["positions"] == []


def test_status_bad_profile_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "file not found" in err and "Traceback" not in err


# --- end to end --------------------------------------------------------------------------------
def engine(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_subprocess_exit_codes(tmp_path: Path, state: Path) -> None:
    ok = engine("validate", "machines/position.yaml")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK machines/position.yaml: machine 'position'")

    path, line, key = bad_machine(tmp_path)
    bad = engine("validate", str(path))
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert f"{path}:{line}: {key}:" in bad.stderr
    assert "Traceback" not in bad.stderr

    missing = engine("log", "--state", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr

    log = engine("log", "--state", str(state), "--json", "--event", "entry_rejected")
    assert log.returncode == 0, log.stderr
    assert seqs(log.stdout) == [4]


def test_subprocess_runtime_failure_exits_1(tmp_path: Path) -> None:
    """A failure that is not the user's (here: a journal line that is not an object) exits 1 without a
    traceback; a damaged state file is named, with its line and the remedy."""
    st = tmp_path / "st"
    st.mkdir()
    (st / JOURNAL_FILE).write_text("[1, 2]\n", encoding="utf-8")
    result = engine("log", "--state", str(st))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert f"{st / JOURNAL_FILE}: damaged record at line 1" in result.stderr and "repair" in result.stderr
