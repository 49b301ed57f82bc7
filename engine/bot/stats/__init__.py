"""Trade statistics for Telegram's /summary and /performance: aggregates folded from `history.jsonl`
into TinyDB, and the equity picture."""

from engine.bot.stats.aggregates import STATS_FILE, Aggregates, Performance, PeriodSummary, Summary

__all__ = ["STATS_FILE", "Aggregates", "PeriodSummary", "Performance", "Summary"]
