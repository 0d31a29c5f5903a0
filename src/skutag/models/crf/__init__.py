"""A character-level CRF attribute tagger (crfsuite to train, numpy to predict) for text an English
sub-word vocabulary cannot read: Chinese, Japanese, or any script as a cheap fallback."""

from skutag.models.crf.tagger import CharCRFTagger

__all__ = ["CharCRFTagger"]
