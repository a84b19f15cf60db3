"""ringcast's own endpoints, for what neither vendor API has (under /ringcast/v1)."""
