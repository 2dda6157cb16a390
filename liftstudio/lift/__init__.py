"""Lifting 2D masks and features onto Gaussians: the methods and their registry."""

from liftstudio.lift.registry import LiftInputs, LiftMethod, LiftOutput, lift_methods

__all__ = ["LiftInputs", "LiftMethod", "LiftOutput", "lift_methods"]
