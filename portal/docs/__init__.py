"""The developer docs: API references, problem types and getting started."""
