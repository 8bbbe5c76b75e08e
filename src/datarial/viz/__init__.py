"""Figure builders: matplotlib for files (PNG/SVG), plotly for the app."""
