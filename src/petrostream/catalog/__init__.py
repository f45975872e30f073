"""PetroStream catalog."""
