"""Reading inputs where they live: column roles, sources (file, frame, database), databases and
the feature SQL runner with its ``sql/`` files."""
