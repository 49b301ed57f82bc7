"""`repair PROFILE`: show where a state folder's journal or history is damaged and what a cut would
lose; with `--cut-at-damage`, keep copies and cut there. Never changes anything unless asked."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("repair", help="find (and, when asked, cut off) damage in a state folder",
                       description="Check every record of the state folder's journal and history (checksums, "
                                   "seq order) and say where the first damage is and what cutting there would "
                                   "lose. Changes nothing unless --cut-at-damage is given; then it keeps a copy "
                                   "of each file it changes (NAME.damaged-TIME), cuts the journal before its "
                                   "first damaged record, drops history lines the kept journal does not record, "
                                   "and sets the snapshot aside so the next run rebuilds from the journal. "
                                   "Refused while a bot runs on the folder.")
    p.add_argument("profile", type=Path, nargs="?", help="profile YAML whose state folder to check")
    p.add_argument("--state", type=Path, metavar="DIR", help="the state folder itself, instead of a profile")
    p.add_argument("--cut-at-damage", action="store_true",
                   help="keep copies, then cut the journal and history at their first damaged record")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.cli.output import console
    from engine.inspect.locate import state_folder
    from engine.positions.book import HISTORY_FILE, JOURNAL_FILE, SNAPSHOT_FILE
    from engine.store.lock import state_lock
    from engine.store.repair import cut_at_damage, examine
    from engine.store.snapshot import slot_paths

    if args.profile is None and args.state is None:
        raise UserError("repair: name the profile (repair profiles/aggressive.yaml) or the folder (--state DIR)")
    folder = state_folder(args.state, None if args.state else args.profile)
    if not folder.is_dir():
        raise UserError(f"{args.profile}: its state folder {folder} does not exist; nothing to repair")
    out = console()
    found = examine(folder / JOURNAL_FILE, folder / HISTORY_FILE)
    for damage in (found.journal_damage, found.history_damage):
        if damage is not None:
            out.print(f"damaged: {damage.path} line {damage.line}"
                      + (f" (seq {damage.seq})" if damage.seq is not None and damage.path == found.journal else "")
                      + f": {damage.problem.split(': ', 1)[-1]}", markup=False, highlight=False)
    if not found.damaged:
        out.print(f"{folder}: every journal and history record checks; nothing to repair")
        return 0
    for line in what_is_lost(found):
        out.print(line, markup=False, highlight=False)
    if not args.cut_at_damage:
        out.print("nothing changed; run again with --cut-at-damage to keep copies and cut there")
        return 1
    with state_lock(folder):  # StateFolderBusy (exit 1) while a bot holds the folder
        found = examine(folder / JOURNAL_FILE, folder / HISTORY_FILE)  # again, under the lock
        result = cut_at_damage(found, slot_paths(folder / SNAPSHOT_FILE))
    for copy in result.copies:
        out.print(f"kept a copy: {copy}", markup=False, highlight=False)
    for aside in result.set_aside:
        out.print(f"snapshot set aside: {aside}", markup=False, highlight=False)
    if result.history_dropped:
        out.print(f"history: {result.history_dropped} line(s) removed", markup=False, highlight=False)
    out.print(f"cut done: the journal now ends at seq {found.kept_seq}; the next run rebuilds the positions and "
              "bot values from it, then reconciles with the venue", markup=False, highlight=False)
    return 0


def what_is_lost(found) -> list[str]:  # noqa: ANN001 - engine.store.repair.Findings
    lost = found.lost
    lines = []
    if lost is not None:
        seqs = f"seq {lost.seqs[0]}–{lost.seqs[1]}" if lost.seqs else "no readable seq"
        lines.append(f"a cut at journal line {lost.line} loses {lost.records} record(s) ({seqs}, "
                     f"{lost.bot_records} bot record(s)); the journal keeps seq 1–{found.kept_seq}")
        if lost.positions:
            shown = ", ".join(lost.positions[:12]) + (" …" if len(lost.positions) > 12 else "")
            lines.append(f"positions whose later transitions are lost: {shown}; their orders may still be on the "
                         "venue (the next run's reconciliation and orphan sweep deal with what no position owns)")
        lines.append("bot values journaled after the cut (risk counters, paper cursor) go back to their last "
                     "kept value")
    if found.history_damage is not None:
        lines.append(f"the history loses its lines from line {found.history_damage.line} on; the next run "
                     "rebuilds from the journal every closing the journal keeps")
    return lines
