"""Every refusal of the machine loader names the file, the line and the key, and says what was expected.

Each bad file is a textual edit of MINI (a small valid machine) written to tmp_path; the expected line is
computed from the edited text, never written down by hand.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from engine.errors import SpecError, SpecErrors, UserError
from engine.machine.loader import load_definition as load_generic
from engine.positions.events import load_position_machine
from engine.positions.lifecycle import REGISTRY
from tests.positions.support import MACHINE_FILE

MINI = """\
# A small valid machine: the base every bad file in this module is edited from.
name: mini
initial: idle

states:
  idle:
    description: nothing sent yet
  entering:
    tags: [inflight, exposed, entry]
    timeout: {after: orders.entry_timeout, event: entry_timeout}
  open:
    tags: [exposed, protected]
  emergency:
    tags: [inflight, exposed, exit, emergency]
  closed:
    tags: [terminal]

transitions:
  - event: signal
    from: idle
    to: entering
    guards: [risk.max_positions]
    actions: [orders.submit_entry]
  - event: entry_filled
    from: entering
    to: open
    actions: [position.record_entry, orders.protect]
  - event: entry_timeout
    from: entering
    to: emergency
    actions: [orders.emergency_close]
  - event: sl_filled
    from: open
    to: closed
    actions: [position.record_exit]
  - event: panic
    from: [entering, open]
    to: emergency
    actions: [orders.emergency_close]
  - event: close_filled
    from: emergency
    to: closed
    actions: [position.record_exit]
"""
N_TRANSITIONS = 6
STATES = ("idle", "entering", "open", "emergency", "closed")


# --- helpers -----------------------------------------------------------------------------------
def load_definition(path: Path):  # noqa: ANN201
    """MINI is a small machine, not the engine's whole lifecycle: the generic checks with the domain's
    registry, without the engine's event contract (tested on the real machine at the end)."""
    return load_generic(path, REGISTRY)


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"edit anchor must be unique: {old!r}"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}, expected exactly one"
    return hits[0]


def write(tmp_path: Path, text: str, name: str = "machine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusals(path: Path) -> list[SpecError]:
    """Load `path`, which must be refused; return every SpecError reported."""
    with pytest.raises(UserError) as info:
        load_definition(path)
    exc = info.value
    if isinstance(exc, SpecErrors):
        assert exc.errors, "SpecErrors without entries"
        assert str(exc) == "\n".join(str(e) for e in exc.errors)
        return list(exc.errors)
    assert isinstance(exc, SpecError), f"refused with {type(exc).__name__}, expected SpecError(s)"
    return [exc]


def expect(errors: list[SpecError], path: Path, line: int | None, key: str, *phrases: str) -> SpecError:
    """The error for `key`: it names the file and line, and its problem contains every phrase."""
    matching = [e for e in errors if e.key == key]
    assert matching, f"no error for key {key!r}; got {[str(e) for e in errors]}"
    err = next((e for e in matching if all(p in e.problem for p in phrases)), matching[0])
    assert err.file == str(path)
    assert err.line == line, f"{key}: reported line {err.line}, expected {line}: {err}"
    for phrase in phrases:
        assert phrase in err.problem, f"{phrase!r} not in {err.problem!r}"
    where = f"{path}:{line}" if line else str(path)
    assert str(err) == (f"{where}: {key}: {err.problem}" if key else f"{where}: {err.problem}")
    return err


def refused_once(tmp_path: Path, text: str) -> tuple[Path, SpecError]:
    path = write(tmp_path, text)
    errors = refusals(path)
    assert len(errors) == 1, [str(e) for e in errors]
    return path, errors[0]


# --- what loads --------------------------------------------------------------------------------
def test_mini_machine_is_valid(tmp_path: Path) -> None:
    d = load_definition(write(tmp_path, MINI))
    assert tuple(d.spec.states) == STATES
    assert len(d.spec.transitions) == N_TRANSITIONS


def test_real_position_machine_loads_cleanly() -> None:
    d = load_position_machine(MACHINE_FILE)
    assert d.spec.name == "position"
    assert d.spec.initial == "idle"
    assert set(d.spec.states) == {"idle", "entering", "resting", "cancelling_entry", "open", "partial_tp", "closing",
                                  "emergency", "closed"}
    assert d.spec.tagged("terminal") == {"closed"}
    assert d.file == MACHINE_FILE


def test_real_machine_with_a_bad_edit_is_refused_at_the_edited_line(tmp_path: Path) -> None:
    text = MACHINE_FILE.read_text(encoding="utf-8")
    anchor = "    from: [open, partial_tp]\n    to: partial_tp"
    bad = edit(text, anchor + "\n", anchor + "p\n")
    path = write(tmp_path, bad, "position.yaml")
    errors = refusals(path)
    index = next(
        i for i, t in enumerate(load_position_machine(MACHINE_FILE).spec.transitions)
        if t.to == "partial_tp" and t.event == "tp_filled"
    )
    expect(
        errors,
        path,
        line_of(bad, "to: partial_tpp"),
        f"transitions[{index}].to",
        "unknown state 'partial_tpp'",
        "expected one of:",
        "partial_tp",
    )


# --- unknown states ----------------------------------------------------------------------------
def test_unknown_state_in_from(tmp_path: Path) -> None:
    bad = edit(MINI, "    from: open\n", "    from: opne\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "from: opne"),
        "transitions[3].from",
        "unknown state 'opne'",
        "expected one of: " + ", ".join(STATES),
    )


def test_unknown_state_in_a_from_list_names_the_item(tmp_path: Path) -> None:
    bad = edit(MINI, "    from: [entering, open]\n", "    from:\n      - entering\n      - opne\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "- opne"),
        "transitions[4].from[1]",
        "unknown state 'opne'",
        "expected one of:",
    )


def test_unknown_state_in_to(tmp_path: Path) -> None:
    bad = edit(MINI, "    to: open\n", "    to: opened\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "to: opened"),
        "transitions[1].to",
        "unknown state 'opened'",
        "expected one of: " + ", ".join(STATES),
    )


def test_unknown_initial_state(tmp_path: Path) -> None:
    bad = edit(MINI, "initial: idle\n", "initial: idel\n")
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, "initial: idel"), "initial", "unknown state 'idel'", "expected one of:")


# --- graph -------------------------------------------------------------------------------------
def test_unreachable_state(tmp_path: Path) -> None:
    bad = edit(MINI, "  closed:\n", "  limbo:\n    description: nobody comes here\n  closed:\n")
    bad += "  - event: leave_limbo\n    from: limbo\n    to: closed\n"
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, "limbo:"), "states.limbo", "'limbo' is unreachable from 'idle'")


def test_terminal_state_with_a_way_out(tmp_path: Path) -> None:
    bad = MINI + "  - event: reopen\n    from: closed\n    to: idle\n"
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "from: closed"),
        f"transitions[{N_TRANSITIONS}].from",
        "'closed' is terminal and cannot have a way out",
        "'reopen'",
    )


def test_trap_state_that_cannot_reach_a_terminal_state(tmp_path: Path) -> None:
    bad = edit(MINI, "  closed:\n", "  stuck:\n    description: a dead end\n  closed:\n")
    bad += (
        "  - event: stall\n    from: open\n    to: stuck\n  - event: again\n    from: stuck\n    to: stuck\n"
    )
    path, err = refused_once(tmp_path, bad)
    expect(
        [err], path, line_of(bad, "stuck:"), "states.stuck", "'stuck' cannot reach a terminal state (closed)"
    )


def test_no_terminal_state_at_all(tmp_path: Path) -> None:
    bad = edit(MINI, "    tags: [terminal]\n", "    description: not the end after all\n")
    path = write(tmp_path, bad)
    errors = refusals(path)
    expect(errors, path, line_of(bad, "states:"), "states", "no state is tagged 'terminal'")
    # and every state is then a trap, each reported at its own line
    for name in STATES:
        expect(errors, path, line_of(bad, f"  {name}:"), f"states.{name}", "cannot reach a terminal state")


def test_exposed_state_without_a_transition_to_emergency(tmp_path: Path) -> None:
    bad = edit(MINI, "    from: [entering, open]\n", "    from: [entering]\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "  open:"),
        "states.open",
        "'open' can hold exposure",
        "no transition to an emergency state (emergency)",
    )


# --- guard and action names --------------------------------------------------------------------
def test_unknown_guard_name(tmp_path: Path) -> None:
    bad = edit(MINI, "[risk.max_positions]", "[risk.max_positons]")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "risk.max_positons"),
        "transitions[0].guards[0]",
        "unknown guard 'risk.max_positons'",
        "expected one of:",
        "risk.max_positions",
    )


def test_unknown_guard_name_in_unless(tmp_path: Path) -> None:
    bad = edit(
        MINI,
        "    actions: [position.record_entry, orders.protect]\n",
        "    actions: [position.record_entry, orders.protect]\n    unless: [position.flat_afterfill]\n",
    )
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "position.flat_afterfill"),
        "transitions[1].unless[0]",
        "unknown guard 'position.flat_afterfill'",
        "position.flat_after_fill",
    )


def test_unknown_action_name(tmp_path: Path) -> None:
    bad = edit(MINI, "[position.record_entry, orders.protect]", "[position.record_entry, orders.protcet]")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "orders.protcet"),
        "transitions[1].actions[1]",
        "unknown action 'orders.protcet'",
        "expected one of:",
        "orders.protect",
    )


def test_guard_names_of_an_action_are_not_accepted_as_actions(tmp_path: Path) -> None:
    bad = edit(MINI, "[orders.submit_entry]", "[risk.max_positions]")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "actions: [risk.max_positions]"),
        "transitions[0].actions[0]",
        "unknown action 'risk.max_positions'",
    )


def test_os_system_is_refused_and_never_called(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[object] = []
    monkeypatch.setattr(os, "system", lambda *a, **k: called.append(a) or 0)
    bad = edit(MINI, "[orders.submit_entry]", "[os.system]")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err], path, line_of(bad, "[os.system]"), "transitions[0].actions[0]", "unknown action 'os.system'"
    )
    assert called == []


@pytest.mark.parametrize(
    ("yaml_item", "name", "kind"),
    [
        ("os.path.join", "os.path.join", "guard"),
        ("engine.positions.lifecycle.submit_entry", "engine.positions.lifecycle.submit_entry", "guard"),
        ('"lambda s: True"', "lambda s: True", "guard"),
        ("\"__import__('os')\"", "__import__('os')", "guard"),
        ("Risk.Not_Paused", "Risk.Not_Paused", "guard"),
    ],
)
def test_import_paths_and_expressions_are_refused_as_guard_names(
    tmp_path: Path, yaml_item: str, name: str, kind: str
) -> None:
    bad = edit(MINI, "    guards: [risk.max_positions]\n", f"    guards: [risk.max_positions, {yaml_item}]\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "guards:"),
        "transitions[0].guards[1]",
        f"{name!r} is not a valid {kind} name",
        "expressions and import paths are not allowed",
    )


def test_expressions_in_actions_are_refused_and_not_executed(tmp_path: Path) -> None:
    sentinel = tmp_path / "EXECUTED"
    expr = f"__import__('os').system('touch {sentinel}')"
    bad = edit(MINI, "    actions: [orders.submit_entry]\n", f'    actions:\n      - "{expr}"\n')
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "__import__"),
        "transitions[0].actions[0]",
        "action name",
        "expressions and import paths are not allowed",
    )
    assert not sentinel.exists()


def test_python_tag_error_names_the_key(tmp_path: Path) -> None:
    bad = edit(MINI, "    description: nothing sent yet\n", "    description: !!python/name:os.system\n")
    path = write(tmp_path, bad)
    expect(refusals(path), path, line_of(bad, "python/name"), "states.idle.description", "unsupported YAML")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "    actions: [position.record_entry, orders.protect]\n",
            "    actions: !!python/tuple [position.record_entry, orders.protect]\n",
        ),
        (
            "  idle:\n    description: nothing sent yet\n",
            "  idle: !!python/object:os.system\n    description: nothing sent yet\n",
        ),
    ],
    ids=["python-tuple-on-sequence", "python-object-on-mapping"],
)
def test_python_tags_on_collections_are_refused(tmp_path: Path, old: str, new: str) -> None:
    bad = edit(MINI, old, new)
    path = write(tmp_path, bad)
    errors = refusals(path)
    tagged_line = line_of(bad, "!!python/")
    assert any(e.line == tagged_line and "python/" in e.problem for e in errors), [str(e) for e in errors]


# --- determinism -------------------------------------------------------------------------------
SECOND_SL = "  - event: sl_filled  # second handler\n    from: open\n    to: emergency\n"


def test_two_transitions_that_could_both_pass_are_refused(tmp_path: Path) -> None:
    bad = MINI + SECOND_SL
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "# second handler"),
        f"transitions[{N_TRANSITIONS}]",
        f"transitions[3] and transitions[{N_TRANSITIONS}] both handle event 'sl_filled' in state 'open'",
        "priority",
        "unless",
    )


def test_overlap_through_a_from_list_is_refused(tmp_path: Path) -> None:
    bad = MINI + "  - event: panic  # overlaps on open\n    from: [open]\n    to: closed\n"
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "# overlaps on open"),
        f"transitions[{N_TRANSITIONS}]",
        "both handle event 'panic' in state 'open'",
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [("    priority: 1\n", "    priority: 1\n"), ("    priority: 5\n", ""), ("", "    priority: 5\n")],
    ids=["equal", "only-first", "only-second"],
)
def test_priorities_must_be_distinct_and_both_given(tmp_path: Path, first: str, second: str) -> None:
    base = edit(
        MINI,
        "    to: closed\n    actions: [position.record_exit]\n  - event: panic",
        f"    to: closed\n    actions: [position.record_exit]\n{first}  - event: panic",
    )
    bad = base + SECOND_SL + second
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, "# second handler"), f"transitions[{N_TRANSITIONS}]", "could both pass")


def test_distinct_priorities_are_accepted(tmp_path: Path) -> None:
    base = edit(
        MINI,
        "    to: closed\n    actions: [position.record_exit]\n  - event: panic",
        "    to: closed\n    actions: [position.record_exit]\n    priority: 2\n  - event: panic",
    )
    d = load_definition(write(tmp_path, base + SECOND_SL + "    priority: 1\n"))
    assert [t.priority for t in d.spec.transitions if t.event == "sl_filled"] == [2, 1]


def test_guard_and_unless_of_the_same_guard_are_exclusive(tmp_path: Path) -> None:
    base = edit(
        MINI,
        "    to: closed\n    actions: [position.record_exit]\n  - event: panic",
        "    to: closed\n    actions: [position.record_exit]\n    guards: [position.flat_after_fill]\n"
        "  - event: panic",
    )
    d = load_definition(write(tmp_path, base + SECOND_SL + "    unless: [position.flat_after_fill]\n"))
    sl = [t for t in d.spec.transitions if t.event == "sl_filled"]
    assert [t.guards for t in sl] == [("position.flat_after_fill",), ()]
    assert [t.unless for t in sl] == [(), ("position.flat_after_fill",)]


def test_the_same_guard_on_both_is_not_exclusive(tmp_path: Path) -> None:
    base = edit(
        MINI,
        "    to: closed\n    actions: [position.record_exit]\n  - event: panic",
        "    to: closed\n    actions: [position.record_exit]\n    guards: [position.flat_after_fill]\n"
        "  - event: panic",
    )
    bad = base + SECOND_SL + "    guards: [position.flat_after_fill]\n"
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, "# second handler"), f"transitions[{N_TRANSITIONS}]", "could both pass")


# --- timeouts ----------------------------------------------------------------------------------
def test_timeout_event_without_a_transition_from_its_state(tmp_path: Path) -> None:
    bad = edit(MINI, "event: entry_timeout}", "event: entry_timed_out}")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "entry_timed_out"),
        "states.entering.timeout.event",
        "'entry_timed_out' has no transition from 'entering'",
    )


def test_terminal_state_cannot_have_a_timeout(tmp_path: Path) -> None:
    bad = edit(
        MINI,
        "    tags: [terminal]\n",
        "    tags: [terminal]\n    timeout: {after: orders.close_timeout, event: close_filled}\n",
    )
    path = write(tmp_path, bad)
    errors = refusals(path)
    line = line_of(bad, "orders.close_timeout")
    expect(errors, path, line, "states.closed.timeout", "a terminal state cannot have a timeout")
    expect(
        errors, path, line, "states.closed.timeout.event", "'close_filled' has no transition from 'closed'"
    )


@pytest.mark.parametrize(
    ("new", "key", "phrase"),
    [
        (
            "{after: entry_timeout, event: entry_timeout}",
            "states.entering.timeout.after",
            "String should match",
        ),
        (
            "{after: engine.cli.main.main, event: entry_timeout}",
            "states.entering.timeout.after",
            "String should match",
        ),
        (
            "{after: orders.entry_timeout, event: entry_timeout, since: opening}",
            "states.entering.timeout.since",
            "'entered' or 'opened'",
        ),
        ("{event: entry_timeout}", "states.entering.timeout", "exactly one of 'after'"),
        ("{after: orders.entry_timeout, at: next_utc_day, event: entry_timeout}", "states.entering.timeout",
         "exactly one of 'after'"),
        ("{at: tomorrow, event: entry_timeout}", "states.entering.timeout.at", "'next_utc_day'"),
    ],
)
def test_malformed_timeouts(tmp_path: Path, new: str, key: str, phrase: str) -> None:
    bad = edit(MINI, "{after: orders.entry_timeout, event: entry_timeout}", new)
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, "timeout:"), key, phrase)


# --- YAML and schema ---------------------------------------------------------------------------
def test_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    bad = edit(MINI, "    to: entering\n", "    to: entering: oops\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err], path, line_of(bad, "entering: oops"), "", "YAML syntax error", "mapping values are not allowed"
    )


def test_yaml_bad_indentation_reports_its_line(tmp_path: Path) -> None:
    bad = edit(MINI, "    guards: [risk.max_positions]\n", "   guards: [risk.max_positions]\n")
    path, err = refused_once(tmp_path, bad)
    assert err.problem.startswith("YAML syntax error")
    assert err.line == line_of(bad, "   guards:") and err.file == str(path)


@pytest.mark.parametrize(
    ("old", "new", "marker", "key", "phrases"),
    [
        (
            "    tags: [exposed, protected]\n",
            "    tags: exposed\n",
            "tags: exposed",
            "states.open.tags",
            ("valid tuple", "'exposed'"),
        ),
        (
            "    tags: [exposed, protected]\n",
            "    tags: [exposed, protectd]\n",
            "protectd",
            "states.open.tags[1]",
            ("'inflight', 'exposed', 'protected', 'emergency', 'terminal', 'entry', 'exit', 'resting', "
             "'cancelling', 'entries', 'flattening' or 'latched'", "'protectd'"),
        ),
        (
            "    guards: [risk.max_positions]\n",
            "    guards: [risk.max_positions]\n    priority: high\n",
            "priority: high",
            "transitions[0].priority",
            ("valid integer", "'high'"),
        ),
        ("    from: open\n", "    from: 5\n", "from: 5", "transitions[3].from", ("valid tuple", "got 5")),
        (
            "  - event: signal\n",
            "  - event: Signal!\n",
            "Signal!",
            "transitions[0].event",
            ("should match pattern", "'Signal!'"),
        ),
        ("name: mini\n", "name: 7\n", "name: 7", "name", ("valid string",)),
        (
            "    description: nothing sent yet\n",
            "    description: [a, b]\n",
            "description: [a, b]",
            "states.idle.description",
            ("valid string",),
        ),
    ],
    ids=[
        "tags-not-a-list",
        "unknown-tag",
        "priority-string",
        "from-int",
        "event-pattern",
        "name-int",
        "description-list",
    ],
)
def test_wrong_types(
    tmp_path: Path, old: str, new: str, marker: str, key: str, phrases: tuple[str, ...]
) -> None:
    bad = edit(MINI, old, new)
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, marker), key, *phrases)


def test_condition_instead_of_guards_is_an_unknown_key(tmp_path: Path) -> None:
    bad = edit(MINI, "    guards: [risk.max_positions]\n", "    condition: [risk.max_positions]\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "condition:"),
        "transitions[0].condition",
        "unknown key; expected one of: actions, description, event, from, guards, internal, priority, to, unless",
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    bad = edit(MINI, "initial: idle\n", "initial: idle\ncolour: red\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "colour:"),
        "colour",
        "unknown key; expected one of: ends, initial, name, states, transitions",
    )


def test_unknown_key_in_a_state_is_refused_at_its_line(tmp_path: Path) -> None:
    bad = edit(MINI, "    tags: [exposed, protected]\n", "    tags: [exposed, protected]\n    timout: 30s\n")
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, "timout:"), "states.open.timout", "unknown key")


def test_unknown_key_in_a_state_lists_the_expected_keys(tmp_path: Path) -> None:
    bad = edit(MINI, "    tags: [exposed, protected]\n", "    tags: [exposed, protected]\n    timout: 30s\n")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "timout:"),
        "states.open.timout",
        "expected one of: description, tags, timeout",
    )


def test_unknown_key_in_a_timeout_lists_the_expected_keys(tmp_path: Path) -> None:
    bad = edit(MINI, "event: entry_timeout}", "event: entry_timeout, when: 3}")
    path, err = refused_once(tmp_path, bad)
    expect(
        [err],
        path,
        line_of(bad, "when: 3"),
        "states.entering.timeout.when",
        "expected one of: after, at, event, since",
    )


def test_missing_required_key(tmp_path: Path) -> None:
    bad = edit(MINI, "    to: open\n", "")
    path, err = refused_once(tmp_path, bad)
    # the key is absent, so the line is that of the transition that lacks it
    expect([err], path, line_of(bad, "- event: entry_filled"), "transitions[1].to", "required key is missing")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path, err = refused_once(tmp_path, text)
    expect([err], path, None, "", "must be a mapping", "name, initial, states, transitions")


def test_a_list_instead_of_a_mapping(tmp_path: Path) -> None:
    text = "# wrong shape\n- idle\n- open\n"
    path, err = refused_once(tmp_path, text)
    expect([err], path, line_of(text, "- idle"), "", "must be a mapping")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    errors = refusals(path)
    expect(errors, path, None, "", "file not found")


def test_duplicate_state(tmp_path: Path) -> None:
    bad = edit(MINI, "  closed:\n", "  open:\n    description: again\n  closed:\n")
    path, err = refused_once(tmp_path, bad)
    second = [i for i, line in enumerate(bad.splitlines(), start=1) if line == "  open:"]
    assert len(second) == 2
    expect([err], path, second[1], "states.open", "duplicate key")


def test_duplicate_key_in_a_transition(tmp_path: Path) -> None:
    bad = edit(MINI, "    to: open\n", "    to: open\n    to: closed  # again\n")
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, "# again"), "transitions[1].to", "duplicate key")


# --- everything at once ------------------------------------------------------------------------
def test_all_semantic_errors_are_reported_together(tmp_path: Path) -> None:
    bad = edit(MINI, "initial: idle\n", "initial: idel\n")
    bad = edit(bad, "[risk.max_positions]", "[risk.nope]")
    bad = edit(
        bad, "[orders.emergency_close]\n  - event: sl_filled", "[orders.panic_button]\n  - event: sl_filled"
    )
    bad = edit(bad, "    to: open\n", "    to: opne\n")
    path = write(tmp_path, bad)
    with pytest.raises(SpecErrors) as info:
        load_definition(path)
    errors = info.value.errors
    assert len(errors) == 4
    expect(errors, path, line_of(bad, "initial: idel"), "initial", "unknown state 'idel'")
    expect(errors, path, line_of(bad, "risk.nope"), "transitions[0].guards[0]", "unknown guard")
    expect(errors, path, line_of(bad, "to: opne"), "transitions[1].to", "unknown state 'opne'")
    expect(errors, path, line_of(bad, "orders.panic_button"), "transitions[2].actions[0]", "unknown action")
    # one line per error, each in FILE:LINE: key: problem form
    assert all(
        re.match(rf"^{re.escape(str(path))}:\d+: \S+: ", line) for line in str(info.value).splitlines()
    )


def test_all_schema_errors_are_reported_together(tmp_path: Path) -> None:
    bad = edit(
        MINI, "    guards: [risk.max_positions]\n", "    condition: [risk.max_positions]\n    priority: high\n"
    )
    bad = edit(bad, "    tags: [terminal]\n", "    tags: [terminl]\n")
    path = write(tmp_path, bad)
    with pytest.raises(SpecErrors) as info:
        load_definition(path)
    errors = info.value.errors
    assert len(errors) == 3
    expect(errors, path, line_of(bad, "condition:"), "transitions[0].condition", "unknown key")
    expect(errors, path, line_of(bad, "priority: high"), "transitions[0].priority", "valid integer")
    expect(errors, path, line_of(bad, "terminl"), "states.closed.tags[0]", "'terminl'")


def test_all_graph_errors_are_reported_together(tmp_path: Path) -> None:
    bad = edit(MINI, "    from: [entering, open]\n", "    from: [entering]\n")
    bad = edit(bad, "event: entry_timeout}", "event: entry_late}")
    bad += "  - event: reopen\n    from: closed\n    to: idle\n"
    path = write(tmp_path, bad)
    with pytest.raises(SpecErrors) as info:
        load_definition(path)
    errors = info.value.errors
    assert len(errors) == 3
    expect(errors, path, line_of(bad, "  open:"), "states.open", "no transition to an emergency state")
    expect(
        errors,
        path,
        line_of(bad, "entry_late"),
        "states.entering.timeout.event",
        "no transition from 'entering'",
    )
    expect(errors, path, line_of(bad, "from: closed"), f"transitions[{N_TRANSITIONS}].from", "terminal")


# --- the engine's event contract ------------------------------------------------------------------
ENGINE_EVENTS = ["signal", "entry_filled", "entry_rejected", "protection_failed", "protection_lost", "tp_filled",
                 "sl_filled", "close_requested", "close_filled", "flat_confirmed", "close_rejected", "market_halted",
                 "panic", "entry_cancelled", "withdraw"]


def test_the_contract_lists_every_event_the_engine_sends() -> None:
    from engine.positions.events import EXPECTED

    assert sorted(e.event for e in EXPECTED) == sorted(ENGINE_EVENTS)


@pytest.mark.parametrize("event", ENGINE_EVENTS)
def test_renaming_an_event_the_engine_sends_is_refused(tmp_path: Path, event: str) -> None:
    """Renamed in every transition, the machine is still a valid graph, but the engine's event would be
    refused at run time: the loader names the event, each state that no longer handles it, and its line."""
    from engine.positions.events import EXPECTED

    text = MACHINE_FILE.read_text(encoding="utf-8")
    renamed = text.replace(f"event: {event}\n", f"event: {event}_renamed\n")
    assert renamed != text
    path = write(tmp_path, renamed)
    with pytest.raises(UserError) as info:
        load_position_machine(path)
    errors = list(info.value.errors) if isinstance(info.value, SpecErrors) else [info.value]
    promise = next(e for e in EXPECTED if e.event == event)
    spec = load_generic(MACHINE_FILE, REGISTRY).spec
    states = promise.states(spec)
    assert states, f"{event} is expected nowhere"
    for state in states:
        err = expect(errors, path, line_of(renamed, f"  {state}:"), f"states.{state}", repr(event), repr(state))
        assert "not handled" in err.problem
    assert len(errors) == len(states), [str(e) for e in errors]


def test_a_tag_the_engine_relies_on_must_be_carried(tmp_path: Path) -> None:
    text = MACHINE_FILE.read_text(encoding="utf-8")
    untagged = edit(text, "tags: [inflight, exposed, entry]", "tags: [inflight, exposed]")
    untagged = edit(untagged, "tags: [inflight, exposed, entry, resting]", "tags: [inflight, exposed, resting]")
    untagged = edit(untagged, "tags: [inflight, exposed, entry, cancelling]", "tags: [inflight, exposed, cancelling]")
    with pytest.raises(SpecErrors) as info:
        load_position_machine(write(tmp_path, untagged))
    errors = info.value.errors
    assert any("no state is tagged 'entry'" in e.problem for e in errors), [str(e) for e in errors]


def test_an_order_sending_action_must_lead_where_its_answer_is_sent(tmp_path: Path) -> None:
    """orders.submit_close leads to `closing`; tagged without `exit`, its fill would be refused there."""
    text = MACHINE_FILE.read_text(encoding="utf-8")
    bad = edit(text, "tags: [inflight, exposed, exit]\n", "tags: [inflight, exposed]\n")
    path = write(tmp_path, bad)
    with pytest.raises(UserError) as info:
        load_position_machine(path)
    errors = list(info.value.errors) if isinstance(info.value, SpecErrors) else [info.value]
    assert any("orders.submit_close" in e.problem and "'closing'" in e.problem for e in errors), \
        [str(e) for e in errors]


def test_the_cli_refuses_a_renamed_event_with_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    renamed = MACHINE_FILE.read_text(encoding="utf-8").replace("event: sl_filled\n", "event: sl_filled_renamed\n")
    path = write(tmp_path, renamed)
    done = subprocess.run([sys.executable, "-m", "engine", "validate", str(path)], capture_output=True, text=True,
                          cwd=MACHINE_FILE.parents[1], env={**os.environ, "ENGINE_OFFLINE": "1"}, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "event 'sl_filled' is not handled in state 'open'" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_internal_transition_must_stay_in_its_state(tmp_path: Path) -> None:
    bad = edit(MINI, "    to: open\n    actions: [position.record_entry, orders.protect]\n",
               "    to: open\n    internal: true\n    actions: [position.record_entry, orders.protect]\n")
    path, err = refused_once(tmp_path, bad)
    expect([err], path, line_of(bad, "- event: entry_filled"), "transitions[1]",
           "an internal transition stays in its state: 'from' must be just 'open'")
