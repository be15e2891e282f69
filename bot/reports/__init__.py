"""Reports: MTTA, MTTR and revenue protection from the bot's own incident history (figures in bot/domain/reports.py)."""
