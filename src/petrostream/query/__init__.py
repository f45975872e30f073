"""PetroStream query."""
