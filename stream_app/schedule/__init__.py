"""When each alert level is due (pure math) and the per-partition schedule of due times."""
