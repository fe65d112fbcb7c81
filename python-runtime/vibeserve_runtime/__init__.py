"""VibeServe runtime: serving-engine components, reference checker and benchmark harness."""
