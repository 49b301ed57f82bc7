"""The declarative position machine: YAML spec → validated definition → `transitions` machine."""
