"""Profiles: YAML files validated by pydantic, merged with `extends:` and runtime overrides."""
