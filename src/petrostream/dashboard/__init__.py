"""PetroStream dashboard."""
