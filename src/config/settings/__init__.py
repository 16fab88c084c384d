"""Settings package: base (shared), local (development), production, test."""
