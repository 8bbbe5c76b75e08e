"""File formats: experiment tables (CSV/Excel)."""
