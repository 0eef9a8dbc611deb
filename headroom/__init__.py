"""The composition root: wiring (config -> sources, executor), rendering that needs plotly outside the
pages (the review's HTML), and the command-line entry (`python -m headroom`). docs/ARCHITECTURE.md."""
