"""The web dashboard: read-only views of a state folder (or a backtest's output folder) and the same
controls as Telegram, served by aiohttp from the bot's own event loop (`run --web`) or on its own
(`python -m engine web`). Server-rendered HTML, a little plain JavaScript, plotly's bundled script for
the charts (served from the installed package, never from a CDN), server-sent events for the live log.

    app.py      routes and the application (auth middleware, static files)
    server.py   start and stop it in a running loop (`serving`)
    bind.py     --web / --bind HOST:PORT and the token rule
    auth.py     token → session cookie, CSRF, every refusal logged
    source.py   what the pages read: the state folder, and the live bot when there is one
    journal_index.py, trades.py   incremental readers of the journal and the history
    html.py     the page layout and small HTML helpers
    views/      one module per page
    sse.py      the live transition log
"""
