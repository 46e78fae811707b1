"""Helpers shared by test modules (classes, data, small functions; fixtures live in conftest.py).
Test modules import from here, never from another test module."""
