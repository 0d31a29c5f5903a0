"""Catalogue cleaning: HTML, unicode, whitespace, labels, missing values, and the `clean` pipeline
(:func:`skutag.cleaning.pipeline.clean_catalogue`)."""
