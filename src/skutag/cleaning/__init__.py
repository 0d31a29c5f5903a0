"""Catalogue cleaning: HTML, unicode, whitespace, labels, missing values, and the `clean` pipeline
(:func:`skutag.workflows.clean.clean_catalogue`)."""
