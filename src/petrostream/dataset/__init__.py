"""PetroStream dataset."""
