"""The main job on the bundled sample: ``valuestream demo``."""
