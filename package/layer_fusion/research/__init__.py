"""Research tooling (grids, selection, reports): never imported by a packaged pipeline."""
