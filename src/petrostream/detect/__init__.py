"""PetroStream detect."""
