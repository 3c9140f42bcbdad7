"""What a job leaves behind: files and tables (CSV, XLSX, SQLite, .hyper), the run folder,
plots, the scoring SQL and the segment history."""
