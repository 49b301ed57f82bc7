"""The bot's controls: pause, resume, panic, re-arm and close a position, each a POST (CSRF checked by
`engine.web.auth`) that first shows a confirmation page, then carries it out through `BotControl`,
the layer Telegram uses, journaled with who sent it (`web:<address>`). Panic, re-arm and close use the
control's own one-time confirmation tokens, tied to the browser session that asked; pause and resume
are confirmed by a second POST of the same form."""

from __future__ import annotations

from aiohttp import web

from engine.bot.control.confirmations import ConfirmationError
from engine.errors import UserError
from engine.web.auth import BY, SESSION
from engine.web.html import esc, notice, post_button
from engine.web.views import csrf_of, html, source_of

ACTIONS = ("pause", "resume", "panic", "rearm", "close")
QUESTIONS = {
    "pause": "Pause new entries? Open positions stay managed.",
    "resume": "Resume new entries?",
    "panic": "PANIC: send every live position to an emergency market close, then stay paused?",
    "rearm": "Re-arm the bot after its equity hard stop? Entries are allowed again.",
}


async def control(request: web.Request) -> web.Response:
    source = source_of(request)
    if not source.live:
        raise web.HTTPNotFound(text="read-only dashboard: no bot runs here\n")
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    form = await request.post()
    by, where = request[BY], request[SESSION].id
    ctl = source.control
    if action in ("pause", "resume"):
        if form.get("confirm") != "yes":
            return _ask(request, action, QUESTIONS[action], f"/control/{action}", {"confirm": "yes"})
        result = ctl.pause(by) if action == "pause" else ctl.resume(by)
        return _done(request, action, result.ok, result.message)
    try:
        if action == "panic":
            pending = ctl.request_panic(by, where)
            question = QUESTIONS["panic"] + f" ({pending.args.get('positions', 0)} live position(s))"
        elif action == "rearm":
            pending = ctl.request_rearm(by, where)
            question = QUESTIONS["rearm"] + f" It stopped: {pending.args.get('reason') or '?'}"
        else:
            pending = ctl.request_close(str(form.get("position", "")), by, where)
            question = f"Close {pending.args['position']} {pending.args['symbol']} at market now?"
    except UserError as exc:
        return _done(request, action, False, str(exc))
    seconds = int(pending.expires_at - pending.created_at)
    return _ask(request, action, f"{question} (expires in {seconds}s)", "/control/confirm", {"token": pending.token},
                cancel=pending.token)


async def confirm(request: web.Request) -> web.Response:
    source = source_of(request)
    if not source.live:
        raise web.HTTPNotFound()
    form = await request.post()
    token = str(form.get("token", ""))
    by, where = request[BY], request[SESSION].id
    try:
        if form.get("answer") == "no":
            result = source.control.cancel(token, by, where)
        else:
            result = await source.control.confirm(token, by, where)
    except ConfirmationError:
        return _done(request, "confirmation", False, "this confirmation was asked for by someone else; nothing done",
                     status=403)
    return _done(request, "confirmation", result.ok, result.message)


def _ask(request: web.Request, action: str, question: str, target: str, fields: dict[str, str],
         cancel: str | None = None) -> web.Response:
    csrf = csrf_of(request)
    yes = post_button(target, f"Confirm {action}", csrf, fields=fields, danger=action in ("panic", "close"))
    if cancel is not None:
        no = post_button("/control/confirm", "Cancel", csrf, fields={"token": cancel, "answer": "no"})
    else:
        no = '<a class=btn href="/">Cancel</a>'
    body = f'<p class=question>{esc(question)}</p><div class=controls>{yes}{no}</div>'
    return html(request, f"Confirm {action}", body, active="")


def _done(request: web.Request, action: str, ok: bool, message: str, status: int = 200) -> web.Response:
    source_of(request).forget_cache()
    links = '<p><a class=btn href="/">Overview</a> <a class=btn href="/positions">Positions</a></p>'
    links = '<p><a class=btn href="/">Overview</a> <a class=btn href="/positions">Positions</a></p>'
    body = notice(message, ok=ok) + links
    return html(request, f"{action}: {'done' if ok else 'refused'}", body, active="", status=status)


def routes(r: web.RouteTableDef) -> None:
    r.post("/control/confirm")(confirm)
    r.post("/control/{action}")(control)
