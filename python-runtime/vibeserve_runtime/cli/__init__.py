"""The verbs that the TypeScript side starts: materialize, check, bench, serve, hardware."""
