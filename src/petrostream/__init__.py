"""PetroStream: an event-driven data lake for offshore oil-well sensor data (Petrobras 3W)."""

__version__ = "0.1.0"
