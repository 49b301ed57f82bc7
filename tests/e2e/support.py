"""Helpers for the end-to-end tests: isolated profiles, journal readers and the invariants every run
must keep (client ids issued once, one live stop-loss per protected position, journal replay equal to
the snapshot, the saved venue agreeing with the book)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from engine.bot.venues import VENUE_FILE
from engine.config.loading import load_machine_for, load_profile
from engine.positions.book import HISTORY_FILE, JOURNAL_FILE, PositionBook, replay_journal
from engine.store.history import read_history
from engine.store.journal import read_records, transitions
from engine.venue.catalog import markets_for
from engine.venue.sim.venue import SimVenue

REPO = Path(__file__).resolve().parents[2]
MACHINE = REPO / "machines" / "position.yaml"
PROTECTED = ("open", "partial_tp")


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


TEST_BASE = Path(__file__).with_name("testbase.yaml")
TEST_PROFILES = (TEST_BASE, Path(__file__).with_name("testaggressive.yaml"))


def make_profile(root: Path, name: str, *, base: str = "testbase", **sections: Any) -> Path:
    """Copy the shipped profiles and the tests' fixed ones (`testbase.yaml`, `testaggressive.yaml`: the
    seed's balanced and aggressive settings) into `root/profiles/` and write `<name>.yaml` extending
    `base` with `sections` merged in; its state lives under `root/state/` and the machine is the repo's."""
    folder = root / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    for shipped in [*(REPO / "profiles").glob("*.yaml"), *TEST_PROFILES]:
        if not (folder / shipped.name).exists():
            shutil.copy(shipped, folder / shipped.name)
    data: dict[str, Any] = {"extends": f"{base}.yaml", "name": name}
    data = deep_merge(data, sections)
    data = deep_merge(data, {"runtime": {"state_dir": str(root / "state"), "machine": str(MACHINE)}})
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def state_dir_of(profile: Path) -> Path:
    return load_profile(profile).state_dir


def journal_records(state_dir: Path) -> list[dict[str, Any]]:
    """Every record of a state folder's journal, transitions and commands."""
    path = state_dir / JOURNAL_FILE
    return list(read_records(path)) if path.is_file() else []


def journal(state_dir: Path) -> list[dict[str, Any]]:
    """The transition records of a state folder's journal (command records left out: they have no
    position, intents or states)."""
    return list(transitions(journal_records(state_dir)))


def history(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / HISTORY_FILE
    if not path.is_file():
        return []
    return list(read_history(path))  # checked and read-only; the lines' checksum key is not part of the position


def machine_for(profile: Path):  # noqa: ANN201
    return load_machine_for(load_profile(profile))


# --- invariants ----------------------------------------------------------------------------------
def assert_seq_contiguous(records: list[dict[str, Any]]) -> None:
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(1, len(records) + 1)), "journal seq must start at 1 and grow by one"


def assert_client_ids_unique(records: list[dict[str, Any]]) -> None:
    ids = [i["client_id"] for r in records for i in r["intents"]]
    dupes = sorted({c for c in ids if ids.count(c) > 1}) if len(ids) != len(set(ids)) else []
    assert not dupes, f"client order ids issued twice: {dupes[:10]}"


def assert_one_stop_per_protected_position(records: list[dict[str, Any]]) -> None:
    """Replays the intents of the journal: after every transition, a position in a protected state has
    exactly one stop-loss placed and not yet cancelled, filled or rejected; a closed one has none."""
    live_sl: dict[str, set[str]] = defaultdict(set)
    for r in records:
        pid = r["position"]
        for intent in r["intents"]:
            if intent["kind"] == "stop_loss":
                live_sl[pid].add(intent["client_id"])
        for intent in r["intents"]:
            if intent["kind"] == "cancel":
                live_sl[pid].discard(intent["target"])
        if r["event"] in ("sl_filled", "protection_failed"):
            live_sl[pid].discard(r["payload"].get("client_id"))
        if r["to"] in PROTECTED:
            assert len(live_sl[pid]) == 1, f"seq {r['seq']} {pid} {r['to']}: live stops {sorted(live_sl[pid])}"
        if r["to"] == "closed":
            assert not live_sl[pid], f"seq {r['seq']} {pid} closed with stops left {sorted(live_sl[pid])}"


def assert_protect_steps(records: list[dict[str, Any]]) -> int:
    """Every entry fill queues exactly one stop-loss and at least one take-profit. Returns the count."""
    fills = [r for r in records if r["event"] == "entry_filled"]
    for r in fills:
        kinds = [i["kind"] for i in r["intents"]]
        assert kinds.count("stop_loss") == 1, (r["seq"], kinds)
        assert kinds.count("take_profit") >= 1, (r["seq"], kinds)
        assert all(i["reduce_only"] for i in r["intents"]), r["seq"]
    return len(fills)


def open_book(profile: Path, state_dir: Path) -> PositionBook:
    book = PositionBook(machine_for(profile), state_dir)
    book.open()
    return book


def assert_replay_equals_snapshot(profile: Path, state_dir: Path) -> PositionBook:
    """The state folder opens; replaying the journal alone gives exactly the snapshot's live positions
    and the history's closed ones. Returns the opened book (caller closes it)."""
    book = open_book(profile, state_dir)
    records = journal(state_dir)
    assert_seq_contiguous(records)
    replayed = replay_journal(machine_for(profile), records)
    live = {pid: p.to_dict() for pid, p in replayed.items() if p.state != "closed"}
    assert {pid: p.to_dict() for pid, p in book.live.items()} == live
    closed = {pid: p.to_dict() for pid, p in replayed.items() if p.state == "closed"}
    hist = history(state_dir)
    assert sorted(h["id"] for h in hist) == sorted(closed), "history must hold every closed position once"
    assert {h["id"]: h for h in hist} == closed
    return book


def saved_venue(profile: Path, state_dir: Path, data_dir: Path | None) -> SimVenue:
    loaded = load_profile(profile)
    markets, _ = markets_for(loaded.profile.venue.quote_assets, data_dir)
    state = json.loads((state_dir / VENUE_FILE).read_text())
    return SimVenue.from_state(markets, state)


async def assert_venue_matches_book(venue: SimVenue, book: PositionBook) -> None:
    """Every protected live position owns exactly one stop-loss order on the venue; every open order on
    the venue belongs to a live position (no orphans); the venue's net position per symbol is what the
    book's live positions hold."""
    orders = await venue.open_orders()
    by_id = {o.client_id: o for o in orders}
    owned = {cid: p for p in book.live.values() for cid in p.open_orders}
    orphans = sorted(o.client_id for o in orders if o.client_id not in owned)
    assert not orphans, f"open orders on the venue that no live position owns: {orphans}"
    for p in book.live.values():
        if p.state in PROTECTED:
            stops = [c for c in p.open_orders if p.order_roles.get(c) == "sl" and c in by_id]
            assert len(stops) == 1, f"{p.id} {p.state}: stop-loss orders on the venue {stops}"
            assert by_id[stops[0]].type.is_conditional
    net: dict[str, Decimal] = defaultdict(Decimal)
    for p in book.live.values():
        if p.side is not None:
            net[p.symbol] += p.qty if p.side.value == "long" else -p.qty
    venue_net = {vp.symbol: vp.signed_qty for vp in await venue.positions() if vp.qty}
    assert {s: q for s, q in net.items() if q} == venue_net
