"""Sources of item histories, one module each; they hand Arrow tables to the workspace."""

# Defaults the command line shows in its help, kept here so that --help loads no source module.
JIRA_KEY = r"\b([A-Za-z][A-Za-z0-9_]+-\d+)\b"  # a Jira issue key, PROJ-123, in free text
GITHUB_API = "https://api.github.com"
DEFAULT_TOTAL_TIMEOUT = 120.0
"""Seconds one request may take, retries included, before the import gives up (``--timeout``)."""
