"""Standard letters: addressing, translations, WeasyPrint rendering and the clerk's print batch."""
