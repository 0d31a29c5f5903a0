"""Nearest-neighbour votes: one embedding space, or several spaces blended (hybrid)."""
