"""Helpers shared by the test packages: imported as a library, never collected as tests."""
