"""Shared by the hidden tests of assignment 4: the student's module and the reference."""
from minicnn.assignments.checks import load_reference

import transfer_heads as student  # the submission's file; a broken file fails here

reference = load_reference(__file__, "transfer_heads")
