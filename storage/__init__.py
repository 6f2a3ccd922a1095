"""Storage: models, queries, access rules and migrations."""
