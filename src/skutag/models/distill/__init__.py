"""Distillation: a fitted teacher of any kind teaches a linear or shallow transformer student its path distribution
(:mod:`skutag.models.distill.distiller`) on a transfer set of labelled, unlabelled and augmented product rows
(:mod:`skutag.models.distill.transfer`)."""

from skutag.models.distill.distiller import STUDENTS, Distiller, DistillSettings
from skutag.models.distill.transfer import TransferRows, augment

__all__ = ["STUDENTS", "DistillSettings", "Distiller", "TransferRows", "augment"]
