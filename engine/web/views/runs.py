"""`/runs`: the backtests and optimisation studies found under the runs folder; `/runs/{name}`: one
backtest (KPI table, equity chart, trades) or one study (its best trial and the trials ranked)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from engine.report.kpis import check_kpis
from engine.report.metrics import compute_metrics
from engine.web.html import cards, chart, esc, money, table
from engine.web.runs import SERVED_SUFFIXES, backtest_trades, find_runs, read_study, resolve, run_at
from engine.web.trades import equity_figure
from engine.web.views import html, source_of
from engine.web.views.trades import exit_reason_rows, trade_rows

DEFAULT_BALANCE = Decimal(1000)  # the shipped profiles' starting balance, when the run does not say


async def runs_page(request: web.Request) -> web.Response:
    source = source_of(request)
    runs = find_runs(source.runs_root)
    rows = []
    for run in runs:
        info = run.info
        span = f"{str(info.get('from', ''))[:10]} → {str(info.get('to', ''))[:10]}" if info.get("from") else "—"
        rows.append([f'<a href="/runs/{quote(run.name)}">{esc(run.name)}</a>', esc(run.kind),
                     esc(info.get("profile", "—")), esc(span), esc(" ".join(info.get("symbols", [])[:6]))])
    where = esc(source.runs_root) if source.runs_root else "no folder (python -m engine web --runs DIR)"
    body = f"<p class=muted>under {where}</p>"
    body += table(("run", "kind", "profile", "period", "symbols"), rows) if rows else "<p>No backtest or study.</p>"
    return html(request, "Backtests and studies", body, active="/runs")


async def run_page(request: web.Request) -> web.Response:
    source = source_of(request)
    name = request.match_info["name"]
    folder = resolve(source.runs_root, name)
    run = None if folder is None or not folder.is_dir() else run_at(source.runs_root, folder)  # type: ignore[arg-type]
    if run is None:
        raise web.HTTPNotFound(text=f"no backtest or study {name}\n")
    body = _backtest(run.name, run.folder, run.info) if run.kind == "backtest" else _study(run.name, run.folder)
    return html(request, f"{run.kind} {run.name}", body, active="/runs", scripts=("plotly.min.js",))


def _backtest(name: str, folder: Path, info: dict) -> str:
    trades = backtest_trades(folder)
    balance = Decimal(str(info.get("starting_balance", DEFAULT_BALANCE)))
    start = _when(info.get("from")) or (trades[0].opened_at if trades else datetime.now(UTC))
    end = _when(info.get("to")) or (trades[-1].closed_at if trades else start)
    m = compute_metrics(trades, balance, start, max(start, end))
    body = cards({"trades": esc(m.trades), "net PnL": money(m.net_pnl), "win-rate": f"{m.win_rate_pct:.1f} %",
                  "profit factor": esc(f"{m.profit_factor:.2f}" if m.profit_factor is not None else "—"),
                  "max drawdown": f"{m.max_drawdown_pct:.2f} %", "fees": money(m.fees, sign=False),
                  "PnL / hour": money(m.pnl_per_hour)})
    if "starting_balance" not in info:
        body += f"<p class=muted>starting balance taken as {DEFAULT_BALANCE} (backtest.json does not say)</p>"
    kpis = [[esc(k.name), esc(k.target_text()), esc(k.actual_text()), esc(k.mark), esc(k.detail)]
            for k in check_kpis(m)]
    body += "<h2>KPIs</h2>" + table(("KPI", "target", "actual", "", ""), kpis)
    if trades:
        body += chart("run-equity", equity_figure(trades, balance))
        body += "<h2>By exit reason</h2>" + table(("exit reason", "trades", "PnL"), exit_reason_rows(trades))
        symbols = [[esc(s.symbol), esc(s.trades), money(s.net_pnl)] for s in m.by_symbol]
        body += "<h2>By symbol</h2>" + table(("symbol", "trades", "PnL"), symbols)
    body += _files(name, folder)
    if trades:
        body += f"<h2>Trades (newest {min(200, len(trades))} of {len(trades)})</h2>" + table(
            ("id", "symbol", "side", "size", "entry", "opened", "closed", "hold", "exit", "PnL", "fees", "maker/taker"),
            trade_rows(trades))
    return body


def _study(name: str, folder: Path) -> str:
    study = read_study(folder)
    body = ""
    if study.best is not None:
        body += "<h2>Best trial</h2>" + table(("", "value"), [[esc(k), esc(v)] for k, v in study.best.items()],
                                              cls="kv")
    if study.best_yaml:
        body += "<h2>best.yaml</h2><pre>" + esc(study.best_yaml) + "</pre>"
    shown = [c for c in study.columns if not c.startswith(("datetime", "duration", "system_attrs"))][:12]
    rows = [[esc(r.get(c, "")) for c in shown] for r in study.rows[:50]]
    body += f"<h2>Trials (best first, {len(study.rows)} complete)</h2>" + table(shown, rows)
    return body + _files(name, folder)


def _files(name: str, folder: Path) -> str:
    files = sorted(p.name for p in folder.iterdir() if p.suffix in SERVED_SUFFIXES)
    if not files:
        return ""
    links = " ".join(f'<a href="/runs-file/{quote(name)}/{quote(f)}">{esc(f)}</a>' for f in files)
    image = "equity.png" in files
    img = f'<img class=shot alt="equity and drawdown" src="/runs-file/{quote(name)}/equity.png">' if image else ""
    return f"<h2>Files</h2><p>{links}</p>{img}"


async def run_file(request: web.Request) -> web.StreamResponse:
    source = source_of(request)
    path = resolve(source.runs_root, f"{request.match_info['name']}/{request.match_info['file']}")
    if path is None or not path.is_file() or path.suffix not in SERVED_SUFFIXES:
        raise web.HTTPNotFound()
    response = web.FileResponse(path)
    if path.suffix == ".html":  # a study's own report (plotly inline): run it, but not as this origin
        response.headers["Content-Security-Policy"] = "sandbox allow-scripts"
    return response


def _when(text: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def routes(r: web.RouteTableDef) -> None:
    r.get("/runs")(runs_page)
    r.get("/runs/{name:.+}")(run_page)
    r.get("/runs-file/{name:.+}/{file}")(run_file)
