"""PetroStream lake."""
