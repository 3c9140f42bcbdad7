"""The Dash app (issue: the dashboard). It will call the segmentation library for everything."""
