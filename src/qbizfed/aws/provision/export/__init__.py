"""Exports of a stack for teams that deploy through infrastructure as code."""
