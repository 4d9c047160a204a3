"""Templates to text, HTML and PDF (docs/architecture.md lists the modules)."""
