"""One router per resource: tagging, models, health, review API, review page."""
