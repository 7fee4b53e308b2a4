"""HTTP only, one folder per surface. Handlers parse input, call one service, return a schema."""
