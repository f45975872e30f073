"""Test doubles and time control that ship with the package (as `bytewax.testing` does).

Modules: `clock` (a fake clock for replay), `notifier` (a recording notifier),
`readings` (reading factories).
"""
