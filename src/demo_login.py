"""The demo user's login: created by load_demo_data, shown by ./inv dev.up (so dependency-free)."""

EMAIL = "demo@desideliver.local"
PASSWORD = "demo-pass-2024"  # noqa: S105 - shown to developers on purpose; prod loads it only on request
