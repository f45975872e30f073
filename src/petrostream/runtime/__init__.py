"""PetroStream runtime."""
