"""PetroStream alerts."""
