"""The real `newsalert` command as a user runs it, against local feed servers and receivers."""
