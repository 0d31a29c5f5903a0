"""Reading, mapping and writing product catalogues."""
