"""PetroStream handlers."""
